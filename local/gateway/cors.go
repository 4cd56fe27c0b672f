package main

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// CORS is the CorsConfiguration of the template's HTTP API, answered as API Gateway answers
// it: a preflight (OPTIONS with Origin and Access-Control-Request-Method) from an allowed
// origin gets 204 with the Access-Control-Allow-* headers, and any other request from an
// allowed origin gets Access-Control-Allow-Origin and Access-Control-Expose-Headers on its
// response. A request from any other origin gets no CORS header at all (a preflight: a bare
// 204). The origins are the template's !Split of the RpOrigins parameter, which locally is
// LATCHKEY_RP_ORIGINS; the methods, headers and max age are read from the template itself.
type CORS struct {
	Origins       []string
	Methods       []string
	AllowHeaders  []string
	ExposeHeaders []string
	MaxAge        int // seconds; 0 sends no Access-Control-Max-Age
}

// LoadCORS reads the CorsConfiguration of the template's AWS::Serverless::HttpApi at path,
// with the allowed origins given (the template's come from a parameter). A template without
// one answers no CORS.
func LoadCORS(path string, origins []string) (CORS, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return CORS{}, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return CORS{}, fmt.Errorf("%s: not a YAML template", path)
	}
	resources := lookup(doc.Content[0], "Resources")
	if resources == nil || resources.Kind != yaml.MappingNode {
		return CORS{}, fmt.Errorf("%s: no Resources mapping", path)
	}
	for i := 1; i < len(resources.Content); i += 2 {
		res := resources.Content[i]
		if literal(lookup(res, "Type")) != "AWS::Serverless::HttpApi" {
			continue
		}
		cfg := lookup(res, "Properties", "CorsConfiguration")
		if cfg == nil {
			return CORS{}, nil
		}
		c := CORS{
			Origins:       origins,
			Methods:       strs(lookup(cfg, "AllowMethods")),
			AllowHeaders:  strs(lookup(cfg, "AllowHeaders")),
			ExposeHeaders: strs(lookup(cfg, "ExposeHeaders")),
		}
		if v := literal(lookup(cfg, "MaxAge")); v != "" {
			if c.MaxAge, err = strconv.Atoi(v); err != nil {
				return CORS{}, fmt.Errorf("%s: CorsConfiguration.MaxAge %q", path, v)
			}
		}
		return c, nil
	}
	return CORS{}, nil
}

// strs is a YAML sequence of literal strings.
func strs(n *yaml.Node) []string {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	var out []string
	for _, c := range n.Content {
		out = append(out, literal(c))
	}
	return out
}

// allowed reports whether origin is one of the allowed origins (exact match, as API Gateway
// compares them; "*" allows any).
func (c CORS) allowed(origin string) bool {
	return origin != "" && (slices.Contains(c.Origins, origin) || slices.Contains(c.Origins, "*"))
}

// Preflight answers r when it is a CORS preflight and reports whether it did.
func (c CORS) Preflight(w http.ResponseWriter, r *http.Request) bool {
	if len(c.Origins) == 0 || r.Method != http.MethodOptions || r.Header.Get("Origin") == "" || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	if origin := r.Header.Get("Origin"); c.allowed(origin) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Methods", strings.Join(c.Methods, ","))
		if len(c.AllowHeaders) > 0 {
			h.Set("Access-Control-Allow-Headers", strings.Join(c.AllowHeaders, ","))
		}
		if c.MaxAge > 0 {
			h.Set("Access-Control-Max-Age", strconv.Itoa(c.MaxAge))
		}
		h.Add("Vary", "Origin")
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}

// Decorate adds the CORS headers of an actual request from an allowed origin to its response.
func (c CORS) Decorate(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if !c.allowed(origin) {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	if len(c.ExposeHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(c.ExposeHeaders, ","))
	}
	h.Add("Vary", "Origin")
}
