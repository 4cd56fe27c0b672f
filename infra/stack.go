package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Settings every function shares; template.yaml's Globals repeat them (parity_test.go checks).
const (
	functionMemoryMB       = 256
	functionTimeoutSeconds = 10
)

// Parameter patterns of the relying party, which template.yaml repeats: a lower-case domain
// (or localhost), and origins joined by commas without spaces (they are split into the CORS
// origins as they are).
const (
	rpIDPattern      = `^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`
	rpOriginsPattern = `^https?://[^\s,/]+(,https?://[^\s,/]+)*$`
)

// CORS of the HTTP API, which template.yaml repeats.
var (
	corsAllowHeaders  = []string{"authorization", "content-type"}
	corsExposeHeaders = []string{"retry-after", "www-authenticate", "x-request-id"}
)

const corsMaxAgeSeconds = 3600

// The table's key, index and TTL attribute names. The dynamo package owns the item schema;
// these are the only names the infrastructure must agree on with it.
const (
	partitionKey = "pk"
	sortKey      = "sk"
	indexName    = "gsi1"
	indexPK      = "gsi1pk"
	indexSK      = "gsi1sk"
	ttlAttribute = "expiresAt"
)

// LatchkeyStackProps configures NewLatchkeyStack.
type LatchkeyStackProps struct {
	awscdk.StackProps
	// Functions are the Lambda functions to deploy, usually Enabled().
	Functions []Function
	// Code returns the deployment package of the named function.
	Code func(name string) awslambda.Code
}

// LatchkeyStack is the deployed Latchkey service: table, signing key, HMAC secret, one Lambda
// function per group and the HTTP API in front of them.
type LatchkeyStack struct {
	awscdk.Stack
	Table      awsdynamodb.Table
	SigningKey awskms.Key
	Secret     awssecretsmanager.Secret
	Api        awsapigatewayv2.HttpApi
	Functions  map[string]awslambda.Function
}

// NewLatchkeyStack defines the stack. Construct ids are stable: renaming one replaces the
// resource, and the table, key and secret are retained rather than deleted when replaced.
func NewLatchkeyStack(scope constructs.Construct, id string, props *LatchkeyStackProps) *LatchkeyStack {
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	s := &LatchkeyStack{Stack: stack, Functions: map[string]awslambda.Function{}}

	issuer := awscdk.NewCfnParameter(stack, jsii.String("Issuer"), &awscdk.CfnParameterProps{
		Type:                  jsii.String("String"),
		Description:           jsii.String("The iss claim of access tokens and the issuer in discovery (an https URL, no query, fragment or trailing slash)."),
		AllowedPattern:        jsii.String(`^https://[^\s/?#]+(/[^\s?#]*[^\s/?#])?$`),
		ConstraintDescription: jsii.String("an https URL without query, fragment or trailing slash"),
	})
	audience := awscdk.NewCfnParameter(stack, jsii.String("Audience"), &awscdk.CfnParameterProps{
		Type:        jsii.String("String"),
		Default:     jsii.String("latchkey"),
		Description: jsii.String("The aud claim of access tokens."),
	})
	rpID := awscdk.NewCfnParameter(stack, jsii.String("RpId"), &awscdk.CfnParameterProps{
		Type:                  jsii.String("String"),
		Description:           jsii.String("WebAuthn relying party id (a registrable domain, e.g. example.com)."),
		AllowedPattern:        jsii.String(rpIDPattern),
		ConstraintDescription: jsii.String("a lower-case domain name such as example.com"),
	})
	rpOrigins := awscdk.NewCfnParameter(stack, jsii.String("RpOrigins"), &awscdk.CfnParameterProps{
		Type:                  jsii.String("String"),
		Description:           jsii.String("Comma-separated WebAuthn origins allowed to use passkeys (e.g. https://app.example.com); also the CORS origins of the API."),
		AllowedPattern:        jsii.String(rpOriginsPattern),
		ConstraintDescription: jsii.String("origins such as https://app.example.com, separated by commas without spaces"),
	})
	attestation := awscdk.NewCfnParameter(stack, jsii.String("Attestation"), &awscdk.CfnParameterProps{
		Type:          jsii.String("String"),
		Default:       jsii.String("none"),
		AllowedValues: jsii.Strings("none", "indirect", "direct", "enterprise"),
		Description:   jsii.String("WebAuthn attestation conveyance preference for new passkeys."),
	})
	version := awscdk.NewCfnParameter(stack, jsii.String("Version"), &awscdk.CfnParameterProps{
		Type:        jsii.String("String"),
		Default:     jsii.String("dev"),
		Description: jsii.String("The version the functions report at /health (infra/cdk.sh passes git describe)."),
	})

	s.Table = awsdynamodb.NewTable(stack, jsii.String("Table"), &awsdynamodb.TableProps{
		PartitionKey:        &awsdynamodb.Attribute{Name: jsii.String(partitionKey), Type: awsdynamodb.AttributeType_STRING},
		SortKey:             &awsdynamodb.Attribute{Name: jsii.String(sortKey), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:         awsdynamodb.BillingMode_PAY_PER_REQUEST,
		TimeToLiveAttribute: jsii.String(ttlAttribute),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	s.Table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
		IndexName:      jsii.String(indexName),
		PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String(indexPK), Type: awsdynamodb.AttributeType_STRING},
		SortKey:        &awsdynamodb.Attribute{Name: jsii.String(indexSK), Type: awsdynamodb.AttributeType_STRING},
		ProjectionType: awsdynamodb.ProjectionType_ALL,
	})

	// Asymmetric KMS keys cannot rotate automatically; rotation is a second key listed in
	// LATCHKEY_SIGNING_KEYS (docs/deploy.md).
	s.SigningKey = awskms.NewKey(stack, jsii.String("SigningKey"), &awskms.KeyProps{
		Description:   jsii.String("Latchkey ES256 access-token signing key"),
		KeySpec:       awskms.KeySpec_ECC_NIST_P256,
		KeyUsage:      awskms.KeyUsage_SIGN_VERIFY,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	awskms.NewAlias(stack, jsii.String("SigningKeyAlias"), &awskms.AliasProps{
		AliasName: awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("alias/latchkey-"), stack.StackName(), jsii.String("-signing")}),
		TargetKey: s.SigningKey,
	})

	s.Secret = awssecretsmanager.NewSecret(stack, jsii.String("HmacSecret"), &awssecretsmanager.SecretProps{
		Description: jsii.String("Latchkey HMAC key for refresh tokens"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength:     jsii.Number(64),
			ExcludePunctuation: jsii.Bool(true),
		},
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})

	// Browsers on the relying party's origins call the API directly (fetch with a Bearer token,
	// no cookies), so those origins, and only those, get CORS.
	s.Api = awsapigatewayv2.NewHttpApi(stack, jsii.String("HttpApi"), &awsapigatewayv2.HttpApiProps{
		ApiName:     stack.StackName(),
		Description: jsii.String("Latchkey public API"),
		CorsPreflight: &awsapigatewayv2.CorsPreflightOptions{
			AllowOrigins: awscdk.Fn_Split(jsii.String(","), rpOrigins.ValueAsString(), nil),
			AllowMethods: &[]awsapigatewayv2.CorsHttpMethod{
				awsapigatewayv2.CorsHttpMethod_GET, awsapigatewayv2.CorsHttpMethod_POST,
				awsapigatewayv2.CorsHttpMethod_PATCH, awsapigatewayv2.CorsHttpMethod_DELETE,
			},
			AllowHeaders:     jsii.Strings(corsAllowHeaders...),
			ExposeHeaders:    jsii.Strings(corsExposeHeaders...),
			AllowCredentials: jsii.Bool(false),
			MaxAge:           awscdk.Duration_Seconds(jsii.Number(corsMaxAgeSeconds)),
		},
	})

	env := map[string]*string{
		"LATCHKEY_TABLE":        s.Table.TableName(),
		"LATCHKEY_ISSUER":       issuer.ValueAsString(),
		"LATCHKEY_AUDIENCE":     audience.ValueAsString(),
		"LATCHKEY_SIGNING_KEYS": s.SigningKey.KeyArn(),
		"LATCHKEY_SECRET_ID":    s.Secret.SecretArn(),
		"LATCHKEY_RP_ID":        rpID.ValueAsString(),
		"LATCHKEY_RP_ORIGINS":   rpOrigins.ValueAsString(),
		"LATCHKEY_ATTESTATION":  attestation.ValueAsString(),
		"LATCHKEY_VERSION":      version.ValueAsString(),
	}

	for _, spec := range props.Functions {
		fn := s.addFunction(spec, props.Code(spec.Name), env)
		s.Functions[spec.Name] = fn
		if spec.Authorizer {
			s.exposeAuthorizer(fn)
		}
	}

	awscdk.NewCfnOutput(stack, jsii.String("ApiUrl"), &awscdk.CfnOutputProps{
		Description: jsii.String("Base URL of the Latchkey HTTP API"),
		Value:       s.Api.ApiEndpoint(),
	})
	awscdk.NewCfnOutput(stack, jsii.String("TableName"), &awscdk.CfnOutputProps{
		Description: jsii.String("The DynamoDB table"),
		Value:       s.Table.TableName(),
	})
	awscdk.NewCfnOutput(stack, jsii.String("SigningKeyArn"), &awscdk.CfnOutputProps{
		Description: jsii.String("The KMS key that signs access tokens"),
		Value:       s.SigningKey.KeyArn(),
	})
	return s
}

// addFunction defines one Lambda function with its log group, permissions, routes and alarm.
func (s *LatchkeyStack) addFunction(spec Function, code awslambda.Code, env map[string]*string) awslambda.Function {
	id := spec.LogicalID()
	logs := awslogs.NewLogGroup(s.Stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_ONE_MONTH,
	})
	fn := awslambda.NewFunction(s.Stack, jsii.String(id), &awslambda.FunctionProps{
		Description:   jsii.String(spec.Description),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          code,
		MemorySize:    jsii.Number(functionMemoryMB),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(functionTimeoutSeconds)),
		LoggingFormat: awslambda.LoggingFormat_JSON,
		LogGroup:      logs,
		Tracing:       awslambda.Tracing_DISABLED,
		Environment:   &env,
	})
	for _, g := range spec.Grants {
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Effect:    awsiam.Effect_ALLOW,
			Actions:   jsii.Strings(g.Actions...),
			Resources: &[]*string{s.arnOf(g.On)},
		}))
	}
	if len(spec.Routes) > 0 {
		integration := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String(id+"Integration"), fn, nil)
		for _, r := range spec.Routes {
			s.Api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
				Path:        jsii.String(r.Path),
				Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod(r.Method)},
				Integration: integration,
			})
		}
	}
	fn.MetricErrors(&awscloudwatch.MetricOptions{
		Period:    awscdk.Duration_Minutes(jsii.Number(5)),
		Statistic: jsii.String("Sum"),
	}).CreateAlarm(s.Stack, jsii.String(id+"ErrorsAlarm"), &awscloudwatch.CreateAlarmOptions{
		AlarmDescription:   jsii.String(fmt.Sprintf("Latchkey %s function errors (crashes, timeouts, unhandled errors) in the last 5 minutes", spec.Name)),
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	return fn
}

// exposeAuthorizer lets API Gateway authorizers of this account invoke fn and exports its ARN
// so the team's other stacks can attach it.
func (s *LatchkeyStack) exposeAuthorizer(fn awslambda.Function) {
	fn.AddPermission(jsii.String("InvokeFromApiGatewayAuthorizers"), &awslambda.Permission{
		Principal:     awsiam.NewServicePrincipal(jsii.String("apigateway.amazonaws.com"), nil),
		SourceAccount: s.Stack.Account(),
		SourceArn:     awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:*/authorizers/*"), nil),
	})
	awscdk.NewCfnOutput(s.Stack, jsii.String("AuthorizerArn"), &awscdk.CfnOutputProps{
		Description: jsii.String("ARN of the Lambda authorizer to attach to other APIs"),
		Value:       fn.FunctionArn(),
		ExportName:  awscdk.Fn_Sub(jsii.String("${AWS::StackName}-AuthorizerArn"), nil),
	})
}

// arnOf returns the ARN a Grant on r applies to.
func (s *LatchkeyStack) arnOf(r Resource) *string {
	switch r {
	case SigningKey:
		return s.SigningKey.KeyArn()
	case HmacSecret:
		return s.Secret.SecretArn()
	case Table:
		return s.Table.TableArn()
	case TableIndexes:
		return awscdk.Fn_Join(jsii.String(""), &[]*string{s.Table.TableArn(), jsii.String("/index/*")})
	}
	// Unreachable: Resource is a closed set and the tests synthesize every grant of the catalog.
	panic(fmt.Sprintf("infra: no ARN for resource %q", r))
}
