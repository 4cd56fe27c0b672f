package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

// tokenIssuers are the only functions docs/security.md (least privilege) allows to call kms:Sign.
// Kept apart from the catalog on purpose: giving another function Sign in functions.go must fail
// this test.
var tokenIssuers = []string{"sessions", "passkeys"}

var stubDir string

func TestMain(m *testing.M) {
	dir, err := stubPackage()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	stubDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	jsii.Close()
	os.Exit(code)
}

// synth synthesizes a stack of fns with stub code and returns its assertions template and the
// template as JSON.
func synth(fns []Function) (assertions.Template, map[string]any) {
	app := awscdk.NewApp(nil)
	stack := NewLatchkeyStack(app, "Test", &LatchkeyStackProps{
		Functions: fns,
		Code: func(string) awslambda.Code {
			return awslambda.Code_FromAsset(jsii.String(stubDir), nil)
		},
	})
	tpl := assertions.Template_FromStack(stack.Stack, nil)
	return tpl, *tpl.ToJSON()
}

// full is the stack with every function of the catalog, enabled or not, so the grants of the
// functions still to come are checked today.
var full = sync.OnceValues(func() (assertions.Template, map[string]any) { return synth(catalog) })

// check runs an assertions call, turning its panic (a jsii error) into a test failure.
func check(t *testing.T, what string, assert func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	assert()
}

func TestTable(t *testing.T) {
	tpl, _ := full()
	check(t, "table", func() {
		tpl.HasResource(jsii.String("AWS::DynamoDB::Table"), map[string]any{
			"DeletionPolicy":      "Retain",
			"UpdateReplacePolicy": "Retain",
			"Properties": map[string]any{
				"BillingMode": "PAY_PER_REQUEST",
				"KeySchema": []any{
					map[string]any{"AttributeName": "pk", "KeyType": "HASH"},
					map[string]any{"AttributeName": "sk", "KeyType": "RANGE"},
				},
				"TimeToLiveSpecification":          map[string]any{"AttributeName": "expiresAt", "Enabled": true},
				"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
				"GlobalSecondaryIndexes": []any{map[string]any{
					"IndexName": "gsi1",
					"KeySchema": []any{
						map[string]any{"AttributeName": "gsi1pk", "KeyType": "HASH"},
						map[string]any{"AttributeName": "gsi1sk", "KeyType": "RANGE"},
					},
					"Projection": map[string]any{"ProjectionType": "ALL"},
				}},
				"AttributeDefinitions": assertions.Match_ArrayWith(&[]any{
					map[string]any{"AttributeName": "pk", "AttributeType": "S"},
					map[string]any{"AttributeName": "sk", "AttributeType": "S"},
					map[string]any{"AttributeName": "gsi1pk", "AttributeType": "S"},
					map[string]any{"AttributeName": "gsi1sk", "AttributeType": "S"},
				}),
			},
		})
	})
	check(t, "one table", func() { tpl.ResourceCountIs(jsii.String("AWS::DynamoDB::Table"), jsii.Number(1)) })
}

func TestSigningKeyAndSecret(t *testing.T) {
	tpl, _ := full()
	check(t, "key", func() {
		tpl.HasResource(jsii.String("AWS::KMS::Key"), map[string]any{
			"DeletionPolicy": "Retain",
			"Properties":     map[string]any{"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"},
		})
	})
	check(t, "alias", func() {
		tpl.HasResourceProperties(jsii.String("AWS::KMS::Alias"), map[string]any{
			"AliasName": "alias/latchkey-Test-signing",
		})
	})
	check(t, "secret", func() {
		tpl.HasResource(jsii.String("AWS::SecretsManager::Secret"), map[string]any{
			"DeletionPolicy": "Retain",
			"Properties": map[string]any{
				"GenerateSecretString": map[string]any{"PasswordLength": 64, "ExcludePunctuation": true},
			},
		})
	})
}

func TestParameters(t *testing.T) {
	_, j := full()
	params := j["Parameters"].(map[string]any)
	issuer := params["Issuer"].(map[string]any)
	if _, ok := issuer["Default"]; ok {
		t.Errorf("Issuer has a default; it must be required")
	}
	for name, want := range map[string]string{"Audience": "latchkey", "Attestation": "none", "Version": "dev"} {
		p, ok := params[name].(map[string]any)
		if !ok || p["Default"] != want {
			t.Errorf("parameter %s = %v, want default %q", name, p, want)
		}
	}
	// The relying party is required: the passkeys function cannot start without it, and its
	// origins are the API's CORS origins.
	for name, cases := range map[string]struct{ good, bad []string }{
		"RpId":      {[]string{"example.com", "localhost", "auth.example.co.uk"}, []string{"", "Example.com", "https://example.com", "example.com."}},
		"RpOrigins": {[]string{"https://app.example.com", "https://a.example.com,http://localhost:3000"}, []string{"", "app.example.com", "https://a.example.com, https://b.example.com", "https://app.example.com/"}},
	} {
		p := params[name].(map[string]any)
		if _, ok := p["Default"]; ok {
			t.Errorf("%s has a default; it must be required", name)
		}
		re := regexp.MustCompile(p["AllowedPattern"].(string))
		for _, v := range cases.good {
			if !re.MatchString(v) {
				t.Errorf("%s refuses %q", name, v)
			}
		}
		for _, v := range cases.bad {
			if re.MatchString(v) {
				t.Errorf("%s accepts %q", name, v)
			}
		}
	}
}

// TestCORS gives the relying party's origins, and only those, CORS on the API: Bearer tokens,
// no cookies.
func TestCORS(t *testing.T) {
	tpl, _ := full()
	check(t, "cors", func() {
		tpl.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Api"), map[string]any{
			"CorsConfiguration": map[string]any{
				"AllowOrigins":     map[string]any{"Fn::Split": []any{",", map[string]any{"Ref": "RpOrigins"}}},
				"AllowMethods":     []any{"GET", "POST", "PATCH", "DELETE"},
				"AllowHeaders":     []any{"authorization", "content-type"},
				"ExposeHeaders":    []any{"retry-after", "www-authenticate", "x-request-id"},
				"AllowCredentials": false,
				"MaxAge":           3600,
			},
		})
	})
}

func TestFunctions(t *testing.T) {
	tpl, j := full()
	fns := resourcesOf(j, "AWS::Lambda::Function")
	if len(fns) != len(catalog) {
		t.Fatalf("%d functions, want %d", len(fns), len(catalog))
	}
	env := map[string]any{}
	for _, name := range envNames {
		env[name] = assertions.Match_AnyValue()
	}
	for _, spec := range catalog {
		id := logicalIDOf(t, j, "AWS::Lambda::Function", spec.LogicalID())
		props := fns[id]["Properties"].(map[string]any)
		for key, want := range map[string]any{
			"Runtime": "provided.al2023", "Handler": "bootstrap", "MemorySize": 256.0, "Timeout": 10.0,
		} {
			if props[key] != want {
				t.Errorf("%s: %s = %v, want %v", spec.Name, key, props[key], want)
			}
		}
		if arch := fmt.Sprint(props["Architectures"]); arch != "[arm64]" {
			t.Errorf("%s: Architectures = %s, want [arm64]", spec.Name, arch)
		}
		if _, ok := props["ReservedConcurrentExecutions"]; ok {
			t.Errorf("%s: reserved concurrency set", spec.Name)
		}
		if tracing, ok := props["TracingConfig"].(map[string]any); ok && tracing["Mode"] != "PassThrough" {
			t.Errorf("%s: X-Ray tracing %v, want off", spec.Name, tracing)
		}
		logs := logicalIDOf(t, j, "AWS::Logs::LogGroup", spec.LogicalID()+"Logs")
		wantLogging := map[string]any{"LogFormat": "JSON", "LogGroup": map[string]any{"Ref": logs}}
		if got := props["LoggingConfig"]; fmt.Sprint(got) != fmt.Sprint(wantLogging) {
			t.Errorf("%s: LoggingConfig = %v, want %v", spec.Name, got, wantLogging)
		}
	}
	check(t, "environment", func() {
		tpl.AllResourcesProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
			"Environment": map[string]any{"Variables": assertions.Match_ObjectEquals(&env)},
		})
	})
}

func TestLogRetention(t *testing.T) {
	tpl, _ := full()
	check(t, "log groups", func() {
		tpl.ResourceCountIs(jsii.String("AWS::Logs::LogGroup"), jsii.Number(float64(len(catalog))))
		tpl.AllResourcesProperties(jsii.String("AWS::Logs::LogGroup"), map[string]any{"RetentionInDays": 30})
	})
}

func TestErrorAlarms(t *testing.T) {
	tpl, j := full()
	check(t, "alarms", func() {
		tpl.ResourceCountIs(jsii.String("AWS::CloudWatch::Alarm"), jsii.Number(float64(len(catalog))))
	})
	for _, spec := range catalog {
		fn := logicalIDOf(t, j, "AWS::Lambda::Function", spec.LogicalID())
		check(t, spec.Name+" alarm", func() {
			tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
				"Namespace": "AWS/Lambda", "MetricName": "Errors", "Statistic": "Sum", "Period": 300,
				"Threshold": 1, "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
				"Dimensions": []any{map[string]any{"Name": "FunctionName", "Value": map[string]any{"Ref": fn}}},
			})
		})
	}
}

// TestRoutes checks that the HTTP API has exactly the catalog's routes, each integrated with the
// function that declares it.
func TestRoutes(t *testing.T) {
	_, j := full()
	integrations := resourcesOf(j, "AWS::ApiGatewayV2::Integration")
	got := map[string]string{} // route key -> function construct id
	for id, r := range resourcesOf(j, "AWS::ApiGatewayV2::Route") {
		props := r["Properties"].(map[string]any)
		target := fmt.Sprint(props["Target"])
		var fn string
		for iid, in := range integrations {
			if strings.Contains(target, iid) {
				uri := in["Properties"].(map[string]any)["IntegrationUri"].(map[string]any)["Fn::GetAtt"].([]any)
				fn = constructID(uri[0].(string))
			}
		}
		if fn == "" {
			t.Errorf("route %s: no integration in target %s", id, target)
		}
		got[props["RouteKey"].(string)] = fn
	}
	want := map[string]string{}
	for _, spec := range catalog {
		for _, r := range spec.Routes {
			want[r.Method+" "+r.Path] = spec.LogicalID()
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("routes:\n got %v\nwant %v", got, want)
	}
}

// TestLeastPrivilege walks every IAM policy attached to each function's role and requires the
// allowed (action, resource) pairs to be exactly the catalog's grants: nothing more, no "*".
func TestLeastPrivilege(t *testing.T) {
	_, j := full()
	for _, spec := range catalog {
		got := grantsOf(t, j, spec)
		var want []string
		for _, g := range spec.Grants {
			for _, a := range g.Actions {
				want = append(want, a+" on "+string(g.On))
			}
		}
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s grants:\n got %v\nwant %v", spec.Name, got, want)
		}
		signs := slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "kms:Sign ") })
		if signs != slices.Contains(tokenIssuers, spec.Name) {
			t.Errorf("%s: may call kms:Sign = %v; only %v may", spec.Name, signs, tokenIssuers)
		}
	}
}

func TestAuthorizerExposed(t *testing.T) {
	tpl, j := full()
	fn := logicalIDOf(t, j, "AWS::Lambda::Function", "AuthorizerFunction")
	check(t, "invoke permission", func() {
		tpl.HasResourceProperties(jsii.String("AWS::Lambda::Permission"), map[string]any{
			"Action":        "lambda:InvokeFunction",
			"FunctionName":  map[string]any{"Fn::GetAtt": []any{fn, "Arn"}},
			"Principal":     "apigateway.amazonaws.com",
			"SourceAccount": map[string]any{"Ref": "AWS::AccountId"},
			"SourceArn":     map[string]any{"Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:*/authorizers/*"},
		})
	})
	check(t, "output", func() {
		tpl.HasOutput(jsii.String("AuthorizerArn"), map[string]any{
			"Value":  map[string]any{"Fn::GetAtt": []any{fn, "Arn"}},
			"Export": map[string]any{"Name": map[string]any{"Fn::Sub": "${AWS::StackName}-AuthorizerArn"}},
		})
	})
}

// TestEnabledStack synthesizes what main deploys today.
func TestEnabledStack(t *testing.T) {
	tpl, j := synth(Enabled())
	check(t, "functions", func() {
		tpl.ResourceCountIs(jsii.String("AWS::Lambda::Function"), jsii.Number(float64(len(Enabled()))))
	})
	outputs := j["Outputs"].(map[string]any)
	for _, name := range []string{"ApiUrl", "TableName", "SigningKeyArn"} {
		if _, ok := outputs[name]; !ok {
			t.Errorf("output %s missing", name)
		}
	}
	_, hasAuthorizer := outputs["AuthorizerArn"]
	if want := slices.ContainsFunc(Enabled(), func(f Function) bool { return f.Authorizer }); hasAuthorizer != want {
		t.Errorf("AuthorizerArn output present = %v, want %v", hasAuthorizer, want)
	}
}

func TestMissingBinaries(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "wellknown"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wellknown", "bootstrap"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := missingBinaries(dir, catalog)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"sessions", "authorizer", "passkeys"}; !slices.Equal(got, want) {
		t.Errorf("missingBinaries = %v, want %v", got, want)
	}
}

// grantsOf returns "action on Resource" for every Allow statement of every policy attached to
// spec's role, sorted. Statements on anything but the stack's key, secret, table or indexes fail.
func grantsOf(t *testing.T, j map[string]any, spec Function) []string {
	t.Helper()
	fnID := logicalIDOf(t, j, "AWS::Lambda::Function", spec.LogicalID())
	fn := resourcesOf(j, "AWS::Lambda::Function")[fnID]["Properties"].(map[string]any)
	role := fn["Role"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)

	roleProps := resourcesOf(j, "AWS::IAM::Role")[role]["Properties"].(map[string]any)
	if _, ok := roleProps["Policies"]; ok {
		t.Errorf("%s: role has inline policies", spec.Name)
	}
	managed := fmt.Sprint(roleProps["ManagedPolicyArns"])
	if strings.Count(managed, "arn:") != 1 || !strings.Contains(managed, ":iam::aws:policy/service-role/AWSLambdaBasicExecutionRole") {
		t.Errorf("%s: managed policies %s, want only AWSLambdaBasicExecutionRole", spec.Name, managed)
	}

	var got []string
	for id, p := range resourcesOf(j, "AWS::IAM::Policy") {
		props := p["Properties"].(map[string]any)
		if !slices.ContainsFunc(props["Roles"].([]any), func(r any) bool { return fmt.Sprint(r) == fmt.Sprint(map[string]any{"Ref": role}) }) {
			continue
		}
		for _, st := range props["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := st.(map[string]any)
			if st["Effect"] != "Allow" {
				t.Errorf("%s: policy %s has a %v statement", spec.Name, id, st["Effect"])
				continue
			}
			for _, r := range list(st["Resource"]) {
				res := resourceOf(r)
				if res == "" {
					t.Errorf("%s: statement on unexpected resource %v", spec.Name, r)
				}
				for _, a := range list(st["Action"]) {
					got = append(got, fmt.Sprintf("%s on %s", a, res))
				}
			}
		}
	}
	sort.Strings(got)
	return got
}

// resourceOf names the stack resource an IAM Resource value points at, or "" if it is none of
// the key, secret, table or table indexes.
func resourceOf(v any) Resource {
	m, ok := v.(map[string]any)
	if !ok {
		return "" // a literal such as "*"
	}
	if ga, ok := m["Fn::GetAtt"].([]any); ok && ga[1] == "Arn" {
		switch constructID(ga[0].(string)) {
		case "SigningKey":
			return SigningKey
		case "Table":
			return Table
		}
	}
	if ref, ok := m["Ref"].(string); ok && constructID(ref) == "HmacSecret" {
		return HmacSecret
	}
	if join, ok := m["Fn::Join"].([]any); ok {
		parts := join[1].([]any)
		if len(parts) == 2 && resourceOf(parts[0]) == Table && parts[1] == "/index/*" {
			return TableIndexes
		}
	}
	return ""
}

// envNames are the environment variables every function gets.
var envNames = []string{
	"LATCHKEY_TABLE", "LATCHKEY_ISSUER", "LATCHKEY_AUDIENCE", "LATCHKEY_SIGNING_KEYS",
	"LATCHKEY_SECRET_ID", "LATCHKEY_RP_ID", "LATCHKEY_RP_ORIGINS", "LATCHKEY_ATTESTATION", "LATCHKEY_VERSION",
}

var hashSuffix = regexp.MustCompile(`[0-9A-F]{8}$`)

// constructID strips the hash CDK appends to a top-level construct's logical id.
func constructID(logicalID string) string { return hashSuffix.ReplaceAllString(logicalID, "") }

// resourcesOf returns the template's resources of type typ by logical id.
func resourcesOf(j map[string]any, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range j["Resources"].(map[string]any) {
		r := r.(map[string]any)
		if r["Type"] == typ {
			out[id] = r
		}
	}
	return out
}

// logicalIDOf finds the logical id of the resource of type typ defined by construct id.
func logicalIDOf(t *testing.T, j map[string]any, typ, id string) string {
	t.Helper()
	for lid := range resourcesOf(j, typ) {
		if constructID(lid) == id {
			return lid
		}
	}
	t.Fatalf("no %s for construct %s", typ, id)
	return ""
}

// list returns v as a list whether the template holds one value or several.
func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}
