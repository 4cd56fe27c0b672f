package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The SAM template is written by hand; these tests hold it to the catalog in functions.go and to
// the synthesized CDK stack, so `sam deploy` and `cdk deploy` give the same service.

const templatePath = "../template.yaml"

// TestEnabledFunctionsHaveCode requires the code of every function the stack deploys.
func TestEnabledFunctionsHaveCode(t *testing.T) {
	for _, fn := range Enabled() {
		if _, err := os.Stat(filepath.Join("..", "functions", fn.Name, "main.go")); err != nil {
			t.Errorf("%s is enabled in infra/functions.go but has no functions/%s/main.go: %v", fn.Name, fn.Name, err)
		}
	}
}

// TestTemplateMatchesEnabledFunctions compares template.yaml as it is with the enabled functions.
func TestTemplateMatchesEnabledFunctions(t *testing.T) {
	src, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	checkTemplate(t, parseTemplate(t, src), Enabled())
}

// TestTemplateBlocksMatchCatalog uncomments the BEGIN/END blocks of the functions not enabled yet
// and compares the result with the whole catalog, so enabling a function is only uncommenting.
func TestTemplateBlocksMatchCatalog(t *testing.T) {
	src, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fn := range catalog {
		names = append(names, fn.Name)
	}
	checkTemplate(t, parseTemplate(t, uncommentBlocks(t, src, names)), catalog)
}

func TestUncommentBlocks(t *testing.T) {
	src := "a:\n  # BEGIN x: note\n  # b: 1\n  #\n  #   c: !Ref d\n  # # why\n  # END x\n  # e: 2\n"
	want := "a:\n  # BEGIN x: note\n  b: 1\n\n    c: !Ref d\n  # why\n  # END x\n  # e: 2\n"
	if got := string(uncommentBlocks(t, []byte(src), []string{"x"})); got != want {
		t.Errorf("uncommentBlocks:\n%q\nwant\n%q", got, want)
	}
	if got := string(uncommentBlocks(t, []byte(want), []string{"x"})); got != want {
		t.Errorf("uncommentBlocks of an enabled block:\n%q\nwant it unchanged", got)
	}
}

// TestTemplateGlobals compares the settings and environment every function gets.
func TestTemplateGlobals(t *testing.T) {
	src, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	tpl := parseTemplate(t, src)
	g := get(tpl.root, "Globals", "Function")
	want := map[string]any{
		"Runtime": "provided.al2023", "Architectures": []any{"arm64"}, "Handler": "bootstrap",
		"MemorySize": functionMemoryMB, "Timeout": functionTimeoutSeconds,
	}
	for key, v := range want {
		if got := decode(t, get(g, key)); !sameJSON(got, v) {
			t.Errorf("Globals.Function.%s = %v, want %v", key, got, v)
		}
	}
	if got := get(g, "LoggingConfig", "LogFormat"); got == nil || got.Value != "JSON" {
		t.Errorf("Globals.Function.LoggingConfig.LogFormat is not JSON")
	}
	vars := get(g, "Environment", "Variables")
	var names []string
	for i := 0; vars != nil && i < len(vars.Content); i += 2 {
		names = append(names, vars.Content[i].Value)
	}
	sort.Strings(names)
	want2 := slices.Clone(envNames)
	sort.Strings(want2)
	if !slices.Equal(names, want2) {
		t.Errorf("Globals environment %v, want %v", names, want2)
	}
}

// TestTemplateMatchesStack compares parameters and the stateful resources with the CDK stack.
func TestTemplateMatchesStack(t *testing.T) {
	src, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	tpl := parseTemplate(t, src)
	_, cdk := full()

	cdkParams := cdk["Parameters"].(map[string]any)
	delete(cdkParams, "BootstrapVersion") // CDK's own bootstrap check
	if got := decode(t, get(tpl.root, "Parameters")); !sameJSON(got, cdkParams) {
		t.Errorf("Parameters differ:\n SAM %v\n CDK %v", got, cdkParams)
	}

	// Properties that must be equal; the rest (references, descriptions) differ by nature.
	for _, c := range []struct {
		sam, cdkType string
		keys         []string
	}{
		{"Table", "AWS::DynamoDB::Table", []string{"BillingMode", "KeySchema", "GlobalSecondaryIndexes", "TimeToLiveSpecification", "PointInTimeRecoverySpecification"}},
		{"SigningKey", "AWS::KMS::Key", []string{"KeySpec", "KeyUsage", "Description"}},
		{"IdTokenKey", "AWS::KMS::Key", []string{"KeySpec", "KeyUsage", "Description"}},
		{"HmacSecret", "AWS::SecretsManager::Secret", []string{"GenerateSecretString", "Description"}},
		{"MachineSecret", "AWS::SecretsManager::Secret", []string{"SecretString", "Description"}},
	} {
		var cdkRes map[string]any
		for id, r := range resourcesOf(cdk, c.cdkType) {
			if constructID(id) == c.sam {
				cdkRes = r
			}
		}
		samRes := get(tpl.root, "Resources", c.sam)
		if samRes == nil || cdkRes == nil {
			t.Errorf("%s: missing (SAM %v, CDK %v)", c.sam, samRes != nil, cdkRes != nil)
			continue
		}
		for _, policy := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
			if got := scalar(get(samRes, policy)); got != "Retain" || cdkRes[policy] != "Retain" {
				t.Errorf("%s: %s SAM %q, CDK %v, want Retain", c.sam, policy, got, cdkRes[policy])
			}
		}
		cdkProps := cdkRes["Properties"].(map[string]any)
		for _, key := range c.keys {
			if got, want := decode(t, get(samRes, "Properties", key)), cdkProps[key]; !sameJSON(got, want) {
				t.Errorf("%s.%s:\n SAM %v\n CDK %v", c.sam, key, got, want)
			}
		}
	}
	var attrs []string
	for _, a := range decode(t, get(tpl.root, "Resources", "Table", "Properties", "AttributeDefinitions")).([]any) {
		attrs = append(attrs, fmt.Sprint(a))
	}
	var cdkAttrs []string
	for _, r := range resourcesOf(cdk, "AWS::DynamoDB::Table") {
		for _, a := range r["Properties"].(map[string]any)["AttributeDefinitions"].([]any) {
			cdkAttrs = append(cdkAttrs, fmt.Sprint(a))
		}
	}
	sort.Strings(attrs)
	sort.Strings(cdkAttrs)
	if !slices.Equal(attrs, cdkAttrs) {
		t.Errorf("Table.AttributeDefinitions:\n SAM %v\n CDK %v", attrs, cdkAttrs)
	}
	for alias, key := range map[string]string{"SigningKeyAlias": "signing", "IdTokenKeyAlias": "id-token"} {
		want := "alias/latchkey-${AWS::StackName}-" + key
		if got := get(tpl.root, "Resources", alias, "Properties", "AliasName"); got == nil || got.Tag != "!Sub" || got.Value != want {
			t.Errorf("%s.AliasName is not !Sub %s", alias, want)
		}
	}
	if got := get(tpl.root, "Resources", "IdTokenKeyAlias", "Properties", "TargetKeyId"); got == nil || got.Tag != "!GetAtt" || got.Value != "IdTokenKey.Arn" {
		t.Errorf("IdTokenKeyAlias does not name IdTokenKey")
	}
	for _, out := range []string{"ApiUrl", "TableName", "SigningKeyArn", "IdTokenKeyArn", "MachineSecretArn"} {
		if get(tpl.root, "Outputs", out, "Value") == nil {
			t.Errorf("output %s missing", out)
		}
	}
}

// template is a parsed SAM template.
type template struct {
	root *yaml.Node // the top-level mapping
}

func parseTemplate(t *testing.T, src []byte) template {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		t.Fatalf("template.yaml: not a mapping")
	}
	return template{root: doc.Content[0]}
}

// checkTemplate requires the template's functions, their routes and IAM statements, log groups,
// alarms and authorizer wiring to be those of fns.
func checkTemplate(t *testing.T, tpl template, fns []Function) {
	t.Helper()
	resources := get(tpl.root, "Resources")
	var gotNames, wantNames []string
	for i := 0; i < len(resources.Content); i += 2 {
		if scalar(get(resources.Content[i+1], "Type")) == "AWS::Serverless::Function" {
			gotNames = append(gotNames, resources.Content[i].Value)
		}
	}
	for _, fn := range fns {
		wantNames = append(wantNames, fn.LogicalID())
	}
	sort.Strings(gotNames)
	sort.Strings(wantNames)
	if !slices.Equal(gotNames, wantNames) {
		t.Errorf("template functions %v, want %v", gotNames, wantNames)
	}

	authorizers := 0
	for _, fn := range fns {
		id := fn.LogicalID()
		res := get(resources, id)
		if res == nil {
			continue // reported above
		}
		if scalar(get(res, "Metadata", "BuildMethod")) != "makefile" || scalar(get(res, "Properties", "CodeUri")) != "." {
			t.Errorf("%s: want Metadata.BuildMethod makefile and CodeUri . (the Makefile's build-%s rule)", id, id)
		}
		if got := scalar(get(res, "Properties", "Description")); got != fn.Description {
			t.Errorf("%s: Description %q, want %q", id, got, fn.Description)
		}

		var want []string
		for _, r := range fn.Routes {
			want = append(want, r.Method+" "+r.Path)
		}
		if got := templateRoutes(t, id, res); !sameSet(got, want) {
			t.Errorf("%s routes:\n got %v\nwant %v", id, got, want)
		}

		want = nil
		for _, g := range fn.Grants {
			for _, a := range g.Actions {
				want = append(want, a+" on "+string(g.On))
			}
		}
		if got := templateGrants(t, id, res); !sameSet(got, want) {
			t.Errorf("%s grants:\n got %v\nwant %v", id, got, want)
		}

		logs := id + "Logs"
		if ref := get(res, "Properties", "LoggingConfig", "LogGroup"); ref == nil || ref.Tag != "!Ref" || ref.Value != logs {
			t.Errorf("%s: LoggingConfig.LogGroup is not !Ref %s", id, logs)
		}
		if got := scalar(get(resources, logs, "Properties", "RetentionInDays")); got != "30" {
			t.Errorf("%s: RetentionInDays %q, want 30", logs, got)
		}
		alarm := get(resources, id+"ErrorsAlarm", "Properties")
		if scalar(get(alarm, "MetricName")) != "Errors" || scalar(get(alarm, "Threshold")) != "1" || scalar(get(alarm, "Period")) != "300" ||
			scalar(get(alarm, "ComparisonOperator")) != "GreaterThanOrEqualToThreshold" ||
			!strings.Contains(fmt.Sprint(decode(t, get(alarm, "Dimensions"))), "FunctionName") {
			t.Errorf("%s: no Errors alarm (>= 1 in 300 s) named %sErrorsAlarm", id, id)
		}

		if fn.Authorizer {
			authorizers++
			perm := get(resources, id+"InvokeFromApiGatewayAuthorizers", "Properties")
			if scalar(get(perm, "Principal")) != "apigateway.amazonaws.com" || scalar(get(perm, "SourceAccount")) != "AWS::AccountId" ||
				!strings.HasSuffix(scalar(get(perm, "SourceArn")), ":*/authorizers/*") {
				t.Errorf("%s: no %sInvokeFromApiGatewayAuthorizers permission for apigateway.amazonaws.com limited to this account's authorizers", id, id)
			}
			out := get(tpl.root, "Outputs", "AuthorizerArn")
			if v := get(out, "Value"); v == nil || v.Value != id+".Arn" || scalar(get(out, "Export", "Name")) != "${AWS::StackName}-AuthorizerArn" {
				t.Errorf("output AuthorizerArn: want !GetAtt %s.Arn exported as ${AWS::StackName}-AuthorizerArn", id)
			}
		}
	}
	if authorizers == 0 && get(tpl.root, "Outputs", "AuthorizerArn") != nil {
		t.Errorf("output AuthorizerArn without an enabled authorizer")
	}
}

// templateRoutes returns "METHOD /path" for each HttpApi event of a function.
func templateRoutes(t *testing.T, id string, fn *yaml.Node) []string {
	t.Helper()
	events := get(fn, "Properties", "Events")
	var routes []string
	for i := 0; events != nil && i < len(events.Content); i += 2 {
		ev := events.Content[i+1]
		if scalar(get(ev, "Type")) != "HttpApi" {
			t.Errorf("%s: event %s is not of type HttpApi", id, events.Content[i].Value)
			continue
		}
		if api := get(ev, "Properties", "ApiId"); api == nil || api.Tag != "!Ref" || api.Value != "HttpApi" {
			t.Errorf("%s: event %s is not on !Ref HttpApi", id, events.Content[i].Value)
		}
		routes = append(routes, scalar(get(ev, "Properties", "Method"))+" "+scalar(get(ev, "Properties", "Path")))
	}
	return routes
}

// templateGrants returns "action on Resource" for each Allow statement in a function's Policies.
// Only inline statements are accepted: SAM policy templates and managed policies grant more.
func templateGrants(t *testing.T, id string, fn *yaml.Node) []string {
	t.Helper()
	policies := get(fn, "Properties", "Policies")
	var grants []string
	for _, p := range seq(policies) {
		st := get(p, "Statement")
		if st == nil {
			t.Errorf("%s: policy %v is not an inline statement list", id, decode(t, p))
			continue
		}
		for _, s := range seq(st) {
			if scalar(get(s, "Effect")) != "Allow" {
				t.Errorf("%s: statement with Effect %q", id, scalar(get(s, "Effect")))
			}
			resources := seq(get(s, "Resource"))
			if r := get(s, "Resource"); r != nil && r.Tag == "!Sub" {
				resources = []*yaml.Node{r} // !Sub [template, variables] is one value
			}
			for _, r := range resources {
				res := templateResource(r)
				if res == "" {
					t.Errorf("%s: statement on unexpected resource %s %q", id, r.Tag, r.Value)
				}
				for _, a := range seq(get(s, "Action")) {
					grants = append(grants, a.Value+" on "+string(res))
				}
			}
		}
	}
	return grants
}

// templateResource names the stack resource a short-form intrinsic points at.
func templateResource(n *yaml.Node) Resource {
	switch {
	case n.Tag == "!GetAtt" && n.Value == "SigningKey.Arn":
		return SigningKey
	case n.Tag == "!GetAtt" && n.Value == "IdTokenKey.Arn":
		return IDTokenKey
	case n.Tag == "!GetAtt" && n.Value == "Table.Arn":
		return Table
	case n.Tag == "!Ref" && n.Value == "HmacSecret":
		return HmacSecret
	case n.Tag == "!Ref" && n.Value == "MachineSecret":
		return MachineSecret
	case n.Tag == "!Sub" && n.Value == "${Table.Arn}/index/*":
		return TableIndexes
	case n.Tag == "!Sub" && n.Kind == yaml.SequenceNode && sameJSON(cfnValue(n), wantEmailIdentityArn):
		return EmailIdentity
	}
	return ""
}

var blockStart = regexp.MustCompile(`^\s*# BEGIN (\w+)\b`)
var commented = regexp.MustCompile(`^(\s*)# ?(.*)$`)

// uncommentBlocks removes one level of "# " from every line between "# BEGIN <name>" and
// "# END <name>" for the given names, as a person enabling the block would. A block whose first
// line is not a comment has been enabled already and is left as it is.
func uncommentBlocks(t *testing.T, src []byte, names []string) []byte {
	t.Helper()
	var out []string
	block, first, enabled := "", false, false
	for _, line := range strings.Split(string(src), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case block == "":
			if m := blockStart.FindStringSubmatch(line); m != nil && slices.Contains(names, m[1]) {
				block, first = m[1], true
			}
		case trimmed == "# END "+block:
			block = ""
		default:
			if first {
				first, enabled = false, !strings.HasPrefix(trimmed, "#")
			}
			if m := commented.FindStringSubmatch(line); m != nil && !enabled {
				line = m[1] + m[2]
				if strings.TrimSpace(line) == "" {
					line = ""
				}
			}
		}
		out = append(out, line)
	}
	if block != "" {
		t.Fatalf("template.yaml: BEGIN %s without END %s", block, block)
	}
	return []byte(strings.Join(out, "\n"))
}

// get follows keys through nested mappings; nil when one is missing.
func get(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

// seq returns the items of a sequence node, or the node itself when it is a single value.
func seq(n *yaml.Node) []*yaml.Node {
	switch {
	case n == nil:
		return nil
	case n.Kind == yaml.SequenceNode:
		return n.Content
	}
	return []*yaml.Node{n}
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// decode turns a node into plain Go values (intrinsic tags are dropped, keeping their argument).
func decode(t *testing.T, n *yaml.Node) any {
	t.Helper()
	if n == nil {
		return nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		t.Fatalf("line %d: %v", n.Line, err)
	}
	return v
}

// sameJSON reports whether a and b are equal once both are JSON values (so 10 equals 10.0).
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	if errA != nil || errB != nil {
		return false
	}
	var va, vb any
	if json.Unmarshal(ja, &va) != nil || json.Unmarshal(jb, &vb) != nil {
		return false
	}
	na, _ := json.Marshal(va)
	nb, _ := json.Marshal(vb)
	return string(na) == string(nb)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(a, b)
}

// TestTemplateEdgeMatchesStack compares what protects the edge and reaches the functions:
// conditions and rules, each function's environment, the stage's throttling and access log,
// the authorizer's reserved concurrency, the alarms and metric filters and the custom domain.
func TestTemplateEdgeMatchesStack(t *testing.T) {
	src, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	tpl := parseTemplate(t, src)
	_, cdk := full()
	resources := get(tpl.root, "Resources")

	for _, section := range []string{"Conditions", "Rules"} {
		want := normalized(cdk[section]).(map[string]any)
		delete(want, "CheckBootstrapVersion") // CDK's own bootstrap check
		if got := cfnValue(get(tpl.root, section)); !sameJSON(got, want) {
			t.Errorf("%s:\n SAM %v\n CDK %v", section, got, want)
		}
	}

	cdkFns := resourcesOf(cdk, "AWS::Lambda::Function")
	globals := cfnValue(get(tpl.root, "Globals", "Function", "Environment", "Variables")).(map[string]any)
	for _, fn := range Enabled() {
		id := fn.LogicalID()
		env := maps.Clone(globals)
		if own, ok := cfnValue(get(resources, id, "Properties", "Environment", "Variables")).(map[string]any); ok {
			maps.Copy(env, own)
		}
		cdkProps := cdkFns[logicalIDOf(t, cdk, "AWS::Lambda::Function", id)]["Properties"].(map[string]any)
		if want := normalized(cdkProps["Environment"].(map[string]any)["Variables"]); !sameJSON(env, want) {
			t.Errorf("%s environment:\n SAM %v\n CDK %v", id, env, want)
		}
		got, want := cfnValue(get(resources, id, "Properties", "ReservedConcurrentExecutions")), normalized(cdkProps["ReservedConcurrentExecutions"])
		if !sameJSON(got, want) {
			t.Errorf("%s ReservedConcurrentExecutions: SAM %v, CDK %v", id, got, want)
		}
		if got, want := cfnValue(get(resources, id+"ErrorsAlarm", "Properties", "AlarmActions")), normalized(cdkResource(t, cdk, "AWS::CloudWatch::Alarm", id+"ErrorsAlarm")["Properties"].(map[string]any)["AlarmActions"]); !sameJSON(got, want) {
			t.Errorf("%sErrorsAlarm AlarmActions: SAM %v, CDK %v", id, got, want)
		}
	}

	var stage map[string]any
	for _, st := range resourcesOf(cdk, "AWS::ApiGatewayV2::Stage") {
		stage = st["Properties"].(map[string]any)
	}
	for _, key := range []string{"DefaultRouteSettings", "RouteSettings", "AccessLogSettings"} {
		if got, want := cfnValue(get(resources, "HttpApi", "Properties", key)), normalized(stage[key]); !sameJSON(got, want) {
			t.Errorf("HttpApi %s:\n SAM %v\n CDK %v", key, got, want)
		}
	}

	// Whole resources, by construct id; Condition included.
	for _, c := range []struct{ id, typ string }{
		{"ApiAccessLogs", "AWS::Logs::LogGroup"},
		{"Api5xxAlarm", "AWS::CloudWatch::Alarm"},
		{"RefreshReuseDetectedFilter", "AWS::Logs::MetricFilter"},
		{"RefreshReuseDetectedAlarm", "AWS::CloudWatch::Alarm"},
		{"PasskeyCounterRegressedFilter", "AWS::Logs::MetricFilter"},
		{"PasskeyCounterRegressedAlarm", "AWS::CloudWatch::Alarm"},
		{"ApiDomainName", "AWS::ApiGatewayV2::DomainName"},
		{"ApiDomainMapping", "AWS::ApiGatewayV2::ApiMapping"},
	} {
		sam := get(resources, c.id)
		if sam == nil {
			t.Errorf("template.yaml has no %s", c.id)
			continue
		}
		want := cdkResource(t, cdk, c.typ, c.id)
		for _, key := range []string{"Type", "Condition", "Properties", "Metadata"} {
			if got, want := cfnValue(get(sam, key)), normalized(want[key]); !sameJSON(got, want) {
				t.Errorf("%s %s:\n SAM %v\n CDK %v", c.id, key, got, want)
			}
		}
	}
	if got, want := cfnValue(get(tpl.root, "Outputs", "DomainTarget")), normalized(cdk["Outputs"].(map[string]any)["DomainTarget"]); !sameJSON(got, want) {
		t.Errorf("output DomainTarget:\n SAM %v\n CDK %v", got, want)
	}
}

// cdkResource returns the resource of type typ with construct id id.
func cdkResource(t *testing.T, j map[string]any, typ, id string) map[string]any {
	t.Helper()
	return resourcesOf(j, typ)[logicalIDOf(t, j, typ, id)]
}

// cfnValue turns a template node into the JSON form of CloudFormation: short-form intrinsics
// (!Ref X, !GetAtt A.B, !Sub s, !If [...]) become {"Ref": X}, {"Fn::GetAtt": [A, B]}, ...
func cfnValue(n *yaml.Node) any {
	if n == nil {
		return nil
	}
	var v any
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i < len(n.Content); i += 2 {
			m[n.Content[i].Value] = cfnValue(n.Content[i+1])
		}
		v = m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			l = append(l, cfnValue(c))
		}
		v = l
	default:
		if err := n.Decode(&v); err != nil {
			v = n.Value
		}
	}
	switch {
	case n.Tag == "!Ref":
		return map[string]any{"Ref": n.Value}
	case n.Tag == "!GetAtt":
		a, b, _ := strings.Cut(n.Value, ".")
		return map[string]any{"Fn::GetAtt": []any{a, b}}
	case strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!"): // !! are YAML's own tags
		return map[string]any{"Fn::" + n.Tag[1:]: v}
	}
	return v
}

// normalized strips the hashes CDK appends to logical ids in Ref and Fn::GetAtt, so CDK values
// compare with the template's.
func normalized(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			switch {
			case k == "Ref":
				out[k] = constructID(fmt.Sprint(x))
			case k == "Fn::GetAtt":
				ga := x.([]any)
				out[k] = []any{constructID(fmt.Sprint(ga[0])), ga[1]}
			default:
				out[k] = normalized(x)
			}
		}
		return out
	case []any:
		out := []any{}
		for _, x := range v {
			out = append(out, normalized(x))
		}
		return out
	}
	return v
}
