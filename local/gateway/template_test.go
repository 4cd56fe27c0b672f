package main

import (
	"maps"
	"slices"
	"testing"
	"time"
)

func TestParseTemplate(t *testing.T) {
	fns, err := LoadTemplate("testdata/template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, fn := range fns {
		names = append(names, fn.Name)
	}
	if want := []string{"authorizer", "echo", "unbuilt"}; !slices.Equal(names, want) {
		t.Fatalf("functions = %v, want %v", names, want)
	}

	authorizer, echo := fns[0], fns[1]
	if echo.LogicalID != "EchoFunction" || echo.Timeout != time.Second || echo.MemoryMB != 256 || echo.LogFormat != "JSON" {
		t.Errorf("echo = %+v", echo)
	}
	// Values given by intrinsic functions are left to the local stack.
	if want := map[string]string{"FROM_TEMPLATE": "template-value"}; !maps.Equal(echo.Env, want) {
		t.Errorf("echo env = %v, want %v", echo.Env, want)
	}
	var keys []string
	for _, r := range echo.Routes {
		if r.Function != "echo" {
			t.Errorf("route %s points at %q", r.Key(), r.Function)
		}
		keys = append(keys, r.Key())
	}
	wantKeys := []string{"GET /echo", "POST /echo", "GET /items/{id}", "ANY /fn/{proxy+}", "GET /crash",
		"GET /sleep", "GET /error", "GET /simple", "GET /simple-object", "GET /binary", "GET /env"}
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("echo routes = %v, want %v (the Schedule event is not a route)", keys, wantKeys)
	}

	// The function's Timeout overrides Globals; a MemorySize given by !Ref keeps the Globals value.
	if authorizer.Timeout != 2*time.Second || authorizer.MemoryMB != 256 || len(authorizer.Routes) != 0 {
		t.Errorf("authorizer = %+v", authorizer)
	}
}

func TestParseProjectTemplate(t *testing.T) {
	fns, err := LoadTemplate("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var wellknown *Function
	for i := range fns {
		if fns[i].LogicalID == "WellknownFunction" {
			wellknown = &fns[i]
		}
	}
	if wellknown == nil {
		t.Fatalf("no WellknownFunction in %+v", fns)
	}
	if wellknown.Name != "wellknown" || wellknown.Timeout <= 0 {
		t.Errorf("wellknown = %+v", *wellknown)
	}
	var router Router
	router.routes = wellknown.Routes
	if _, _, ok := router.Match("GET", "/health"); !ok {
		t.Errorf("GET /health is not routed to wellknown: %+v", wellknown.Routes)
	}
}

func TestParseTemplateErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"not yaml":     "Resources: [",
		"no resources": "Globals: {}",
		"bad timeout": `Resources:
  AFunction:
    Type: AWS::Serverless::Function
    Properties: { Timeout: soon }`,
		"relative path": `Resources:
  AFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        E: { Type: HttpApi, Properties: { Method: GET, Path: health } }`,
		"greedy not last": `Resources:
  AFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        E: { Type: HttpApi, Properties: { Method: GET, Path: "/{p+}/x" } }`,
	} {
		if _, err := ParseTemplate([]byte(doc)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
