package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Function is one AWS::Serverless::Function of the SAM template.
type Function struct {
	// LogicalID is the resource's logical id, e.g. WellknownFunction.
	LogicalID string
	// Name is the logical id without the Function suffix, lowercased: the folder under
	// functions/ and build/linux_<arch>/.
	Name string
	// Timeout is the function's timeout (function property, else Globals, else 3 s).
	Timeout time.Duration
	// MemoryMB is the function's memory size (function property, else Globals, else 128).
	MemoryMB int
	// Env holds the literal environment variables of Globals and the function. Values given by
	// intrinsic functions (!Ref, !GetAtt, !Sub…) are left out: the local stack sets those.
	Env map[string]string
	// LogFormat is LoggingConfig.LogFormat (JSON or Text), or empty.
	LogFormat string
	// Routes are the function's HttpApi events.
	Routes []Route
}

// Lambda's defaults when a template gives no Timeout or MemorySize.
const (
	defaultTimeout  = 3 * time.Second
	defaultMemoryMB = 128
)

// LoadTemplate reads and parses the SAM template at path.
func LoadTemplate(path string) ([]Function, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	fns, err := ParseTemplate(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return fns, nil
}

// ParseTemplate returns the serverless functions of a SAM template, sorted by name.
// CloudFormation short tags (!Ref, !GetAtt, !Sub…) are accepted anywhere; a value given by one
// is treated as unknown.
func ParseTemplate(data []byte) ([]Function, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("empty template")
	}
	root := doc.Content[0]
	globals := lookup(root, "Globals", "Function")
	resources := lookup(root, "Resources")
	if resources == nil || resources.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("no Resources mapping")
	}

	var fns []Function
	for i := 0; i+1 < len(resources.Content); i += 2 {
		id, res := resources.Content[i].Value, resources.Content[i+1]
		if literal(lookup(res, "Type")) != "AWS::Serverless::Function" {
			continue
		}
		fn, err := parseFunction(id, lookup(res, "Properties"), globals)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		fns = append(fns, fn)
	}
	sort.Slice(fns, func(i, j int) bool { return fns[i].Name < fns[j].Name })
	return fns, nil
}

func parseFunction(id string, props, globals *yaml.Node) (Function, error) {
	fn := Function{
		LogicalID: id,
		Name:      strings.ToLower(strings.TrimSuffix(id, "Function")),
		Timeout:   defaultTimeout,
		MemoryMB:  defaultMemoryMB,
		Env:       map[string]string{},
	}
	// Globals first, then the function's own properties override them.
	for _, src := range []*yaml.Node{globals, props} {
		if v := literal(lookup(src, "Timeout")); v != "" {
			secs, err := strconv.Atoi(v)
			if err != nil || secs <= 0 {
				return fn, fmt.Errorf("bad Timeout %q", v)
			}
			fn.Timeout = time.Duration(secs) * time.Second
		}
		if v := literal(lookup(src, "MemorySize")); v != "" {
			mb, err := strconv.Atoi(v)
			if err != nil || mb <= 0 {
				return fn, fmt.Errorf("bad MemorySize %q", v)
			}
			fn.MemoryMB = mb
		}
		if v := literal(lookup(src, "LoggingConfig", "LogFormat")); v != "" {
			fn.LogFormat = v
		}
		if vars := lookup(src, "Environment", "Variables"); vars != nil && vars.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(vars.Content); i += 2 {
				if v, ok := scalar(vars.Content[i+1]); ok {
					fn.Env[vars.Content[i].Value] = v
				}
			}
		}
	}

	events := lookup(props, "Events")
	if events != nil && events.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(events.Content); i += 2 {
			ev := events.Content[i+1]
			if literal(lookup(ev, "Type")) != "HttpApi" {
				continue
			}
			method := literal(lookup(ev, "Properties", "Method"))
			path := literal(lookup(ev, "Properties", "Path"))
			route, err := NewRoute(method, path, fn.Name)
			if err != nil {
				return fn, fmt.Errorf("event %s: %w", events.Content[i].Value, err)
			}
			fn.Routes = append(fn.Routes, route)
		}
	}
	return fn, nil
}

// lookup follows keys through nested mappings and returns the value node, or nil.
func lookup(n *yaml.Node, keys ...string) *yaml.Node {
	for _, key := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return n
}

// scalar returns a plain scalar's value; false for intrinsic functions (tagged nodes or
// Fn:: mappings), collections and nulls.
func scalar(n *yaml.Node) (string, bool) {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", false
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return "", false
	}
	return n.Value, true
}

// literal is scalar without the flag: "" when the value is missing or not a literal.
func literal(n *yaml.Node) string {
	v, _ := scalar(n)
	return v
}
