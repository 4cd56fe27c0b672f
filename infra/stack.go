package main

import (
	"fmt"
	"maps"

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
	functionMemoryMB       = 512 // docs/performance.md: chosen from the measured CPU per request
	functionTimeoutSeconds = 10
)

// Parameter patterns of the relying party, which template.yaml repeats: a lower-case domain
// (or localhost), and origins joined by commas without spaces (they are split into the CORS
// origins as they are).
const (
	rpIDPattern      = `^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`
	rpOriginsPattern = `^https?://[^\s,/]+(,https?://[^\s,/]+)*$`
	// Issuer, DomainName, CertificateArn and AlarmTopicArn may be empty.
	issuerPattern      = `^(https://[^\s/?#]+(/[^\s?#]*[^\s/?#])?)?$`
	domainPattern      = `^([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+)?$`
	certificatePattern = `^(arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+)?$`
	topicPattern       = `^(arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+(\.fifo)?)?$`
	// EmailIdentity: empty, a domain, or an address.
	identityPattern = `^(([^\s@<>",;:]+@)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+)?$`
)

// emailIdentityArn is the ARN of the SES identity the functions send as, with ${Identity}
// for the identity's name (a domain or an address).
const emailIdentityArn = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${Identity}"

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

// LatchkeyStack is the deployed Latchkey service: table, signing keys, HMAC secret, one Lambda
// function per group and the HTTP API in front of them.
type LatchkeyStack struct {
	awscdk.Stack
	Table      awsdynamodb.Table
	SigningKey awskms.Key
	// IDTokenKey signs the OpenID provider's ID tokens (RS256).
	IDTokenKey awskms.Key
	Secret     awssecretsmanager.Secret
	// MachineSecret holds the machine clients' secrets: {"<client>": {"current", "next"}}.
	MachineSecret awssecretsmanager.Secret
	Api           awsapigatewayv2.HttpApi
	Functions     map[string]awslambda.Function

	alarmTopic awscdk.CfnParameter
	// emailIdentity is the ARN of the verified SES identity (the Resource EmailIdentity).
	emailIdentity *string
}

// NewLatchkeyStack defines the stack. Construct ids are stable: renaming one replaces the
// resource, and the table, key and secret are retained rather than deleted when replaced.
func NewLatchkeyStack(scope constructs.Construct, id string, props *LatchkeyStackProps) *LatchkeyStack {
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	s := &LatchkeyStack{Stack: stack, Functions: map[string]awslambda.Function{}}

	issuer := awscdk.NewCfnParameter(stack, jsii.String("Issuer"), &awscdk.CfnParameterProps{
		Type:                  jsii.String("String"),
		Default:               jsii.String(""),
		Description:           jsii.String("The iss claim of access tokens and the issuer in discovery (an https URL, no query, fragment or trailing slash); empty means https://<DomainName>."),
		AllowedPattern:        jsii.String(issuerPattern),
		ConstraintDescription: jsii.String("empty, or an https URL without query, fragment or trailing slash"),
	})
	domainName := awscdk.NewCfnParameter(stack, jsii.String("DomainName"), &awscdk.CfnParameterProps{
		Type:                  jsii.String("String"),
		Default:               jsii.String(""),
		Description:           jsii.String("Optional custom domain of the API (e.g. auth.example.com), mapped to it by the stack; needs CertificateArn. Point its DNS at the DomainTarget output."),
		AllowedPattern:        jsii.String(domainPattern),
		ConstraintDescription: jsii.String("empty, or a lower-case domain name such as auth.example.com"),
	})
	certificate := awscdk.NewCfnParameter(stack, jsii.String("CertificateArn"), &awscdk.CfnParameterProps{
		Type:                  jsii.String("String"),
		Default:               jsii.String(""),
		Description:           jsii.String("ARN of the ACM certificate of DomainName, in the stack's region; empty without DomainName."),
		AllowedPattern:        jsii.String(certificatePattern),
		ConstraintDescription: jsii.String("empty, or an ACM certificate ARN"),
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

	params := map[string]awscdk.CfnParameter{}
	for _, st := range settings {
		props := &awscdk.CfnParameterProps{
			Type:        jsii.String("String"),
			Default:     jsii.String(st.Default),
			Description: jsii.String(st.Description),
		}
		if st.AllowedPattern != "" {
			props.AllowedPattern = jsii.String(st.AllowedPattern)
			props.ConstraintDescription = jsii.String(st.Constraint)
		}
		params[st.Param] = awscdk.NewCfnParameter(stack, jsii.String(st.Param), props)
	}
	for _, p := range edgeParams {
		params[p.Param] = awscdk.NewCfnParameter(stack, jsii.String(p.Param), &awscdk.CfnParameterProps{
			Type:        jsii.String("Number"),
			Default:     jsii.Number(p.Default),
			MinValue:    jsii.Number(p.Min),
			MaxValue:    jsii.Number(p.Max),
			Description: jsii.String(p.Description),
		})
	}
	emailIdentity := awscdk.NewCfnParameter(stack, jsii.String("EmailIdentity"), &awscdk.CfnParameterProps{
		Type:                  jsii.String("String"),
		Default:               jsii.String(""),
		Description:           jsii.String("The verified SES identity EmailFrom belongs to, a domain (example.com) or an address; empty means the EmailFrom address itself. The functions may send as this identity only."),
		AllowedPattern:        jsii.String(identityPattern),
		ConstraintDescription: jsii.String("empty, a domain such as example.com, or an email address"),
	})
	alarmTopic := awscdk.NewCfnParameter(stack, jsii.String("AlarmTopicArn"), &awscdk.CfnParameterProps{
		Type:                  jsii.String("String"),
		Default:               jsii.String(""),
		Description:           jsii.String("Optional SNS topic every alarm of the stack notifies; empty leaves the alarms without actions."),
		AllowedPattern:        jsii.String(topicPattern),
		ConstraintDescription: jsii.String("empty, or an SNS topic ARN"),
	})
	s.alarmTopic = alarmTopic

	notEmpty := func(p awscdk.CfnParameter) awscdk.ICfnConditionExpression {
		return awscdk.Fn_ConditionNot(awscdk.Fn_ConditionEquals(p.ValueAsString(), jsii.String("")))
	}
	awscdk.NewCfnCondition(stack, jsii.String("HasIssuer"), &awscdk.CfnConditionProps{Expression: notEmpty(issuer)})
	awscdk.NewCfnCondition(stack, jsii.String("HasDomainName"), &awscdk.CfnConditionProps{Expression: notEmpty(domainName)})
	awscdk.NewCfnCondition(stack, jsii.String("HasAlarmTopic"), &awscdk.CfnConditionProps{Expression: notEmpty(alarmTopic)})
	awscdk.NewCfnCondition(stack, jsii.String("HasEmailIdentity"), &awscdk.CfnConditionProps{Expression: notEmpty(emailIdentity)})
	awscdk.NewCfnCondition(stack, jsii.String("HasAuthorizerReserve"), &awscdk.CfnConditionProps{
		Expression: awscdk.Fn_ConditionNot(awscdk.Fn_ConditionEquals(params["AuthorizerReservedConcurrency"].ValueAsString(), jsii.String("0"))),
	})
	// The issuer must be known on the first deploy: either given, or the custom domain.
	awscdk.NewCfnRule(stack, jsii.String("IssuerOrDomainName"), &awscdk.CfnRuleProps{
		Assertions: &[]*awscdk.CfnRuleAssertion{{
			Assert:            awscdk.Fn_ConditionOr(notEmpty(issuer), notEmpty(domainName)),
			AssertDescription: jsii.String("set Issuer, or DomainName (the issuer is then https://<DomainName>)"),
		}},
	})
	awscdk.NewCfnRule(stack, jsii.String("DomainNameNeedsCertificate"), &awscdk.CfnRuleProps{
		RuleCondition: notEmpty(domainName),
		Assertions: &[]*awscdk.CfnRuleAssertion{{
			Assert:            notEmpty(certificate),
			AssertDescription: jsii.String("DomainName needs CertificateArn, an ACM certificate of that name in the stack's region"),
		}},
	})
	// Email is not optional: sign-up verification and recovery need a sender, and SES refuses
	// one it has not verified. No default could be right, so the first deploy must name it.
	awscdk.NewCfnRule(stack, jsii.String("EmailFromRequired"), &awscdk.CfnRuleProps{
		Assertions: &[]*awscdk.CfnRuleAssertion{{
			Assert:            notEmpty(params["EmailFrom"]),
			AssertDescription: jsii.String("set EmailFrom, the From address of Latchkey's emails, an address of a verified SES identity (EmailIdentity)"),
		}},
	})
	s.emailIdentity = awscdk.Fn_Sub(jsii.String(emailIdentityArn), &map[string]*string{
		"Identity": awscdk.Token_AsString(awscdk.Fn_ConditionIf(jsii.String("HasEmailIdentity"),
			emailIdentity.ValueAsString(), params["EmailFrom"].ValueAsString()), nil),
	})
	issuerValue := awscdk.Token_AsString(awscdk.Fn_ConditionIf(jsii.String("HasIssuer"),
		issuer.ValueAsString(), awscdk.Fn_Sub(jsii.String("https://${DomainName}"), nil)), nil)

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
	s.SigningKey = signingKey(stack, "SigningKey", "Latchkey ES256 access-token signing key", awskms.KeySpec_ECC_NIST_P256, "-signing")
	// ID tokens get a key of their own: OpenID Connect Discovery requires RS256 among the
	// ID-token algorithms. It rotates as the access-token key does (LATCHKEY_ID_TOKEN_KEYS).
	s.IDTokenKey = signingKey(stack, "IdTokenKey", "Latchkey RS256 ID-token signing key", awskms.KeySpec_RSA_2048, "-id-token")

	s.Secret = awssecretsmanager.NewSecret(stack, jsii.String("HmacSecret"), &awssecretsmanager.SecretProps{
		Description: jsii.String("Latchkey HMAC key for refresh tokens"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength:     jsii.Number(64),
			ExcludePunctuation: jsii.Bool(true),
		},
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})

	// The machine clients' secrets. The stack creates it as {} and never writes it again (the
	// value in the template does not change, so an update leaves it alone); `make
	// machine-secret` generates each client's secret into it (docs/deploy.md).
	s.MachineSecret = awssecretsmanager.NewSecret(stack, jsii.String("MachineSecret"), &awssecretsmanager.SecretProps{
		Description:       jsii.String("Latchkey machine clients' secrets"),
		SecretStringValue: awscdk.SecretValue_UnsafePlainText(jsii.String("{}")),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
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
		"LATCHKEY_TABLE":             s.Table.TableName(),
		"LATCHKEY_ISSUER":            issuerValue,
		"LATCHKEY_AUDIENCE":          audience.ValueAsString(),
		"LATCHKEY_SIGNING_KEYS":      s.SigningKey.KeyArn(),
		"LATCHKEY_SECRET_ID":         s.Secret.SecretArn(),
		"LATCHKEY_MACHINE_SECRET_ID": s.MachineSecret.SecretArn(),
		"LATCHKEY_RP_ID":             rpID.ValueAsString(),
		"LATCHKEY_RP_ORIGINS":        rpOrigins.ValueAsString(),
		"LATCHKEY_ATTESTATION":       attestation.ValueAsString(),
		"LATCHKEY_VERSION":           version.ValueAsString(),
	}

	var routes []constructs.IConstruct
	for _, spec := range props.Functions {
		fnEnv := maps.Clone(env)
		for _, name := range spec.Settings {
			st, ok := settingByParam(name)
			if !ok {
				panic(fmt.Sprintf("infra: %s reads unknown setting %q", spec.Name, name))
			}
			fnEnv[st.Env] = params[name].ValueAsString()
		}
		if spec.IDToken {
			fnEnv["LATCHKEY_ID_TOKEN_KEYS"] = s.IDTokenKey.KeyArn()
		}
		fn, fnRoutes := s.addFunction(spec, props.Code(spec.Name), fnEnv)
		routes = append(routes, fnRoutes...)
		s.Functions[spec.Name] = fn
		if spec.Authorizer {
			s.exposeAuthorizer(fn)
			cfn := fn.Node().DefaultChild().(awslambda.CfnFunction)
			cfn.AddPropertyOverride(jsii.String("ReservedConcurrentExecutions"), awscdk.Fn_ConditionIf(jsii.String("HasAuthorizerReserve"),
				params["AuthorizerReservedConcurrency"].ValueAsNumber(), awscdk.Aws_NO_VALUE()))
		}
	}
	s.protectEdge(params, routes)
	s.mapDomain(domainName.ValueAsString(), certificate.ValueAsString())

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
	awscdk.NewCfnOutput(stack, jsii.String("IdTokenKeyArn"), &awscdk.CfnOutputProps{
		Description: jsii.String("The KMS key that signs ID tokens"),
		Value:       s.IDTokenKey.KeyArn(),
	})
	awscdk.NewCfnOutput(stack, jsii.String("MachineSecretArn"), &awscdk.CfnOutputProps{
		Description: jsii.String("The secret holding the machine clients' secrets (make machine-secret)"),
		Value:       s.MachineSecret.SecretArn(),
	})
	return s
}

// addFunction defines one Lambda function with its log group, permissions, routes and alarm.
func (s *LatchkeyStack) addFunction(spec Function, code awslambda.Code, env map[string]*string) (awslambda.Function, []constructs.IConstruct) {
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
	var routes []constructs.IConstruct
	if len(spec.Routes) > 0 {
		integration := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String(id+"Integration"), fn, nil)
		for _, r := range spec.Routes {
			for _, route := range *s.Api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
				Path:        jsii.String(r.Path),
				Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod(r.Method)},
				Integration: integration,
			}) {
				routes = append(routes, route)
			}
		}
	}
	for _, event := range spec.Alerts {
		a, ok := alerts[event]
		if !ok {
			panic(fmt.Sprintf("infra: %s alerts on unknown event %q", spec.Name, event))
		}
		awslogs.NewCfnMetricFilter(s.Stack, jsii.String(a.ID+"Filter"), &awslogs.CfnMetricFilterProps{
			LogGroupName:  logs.LogGroupName(),
			FilterPattern: jsii.String(filterPattern(a.Msg)),
			MetricTransformations: &[]*awslogs.CfnMetricFilter_MetricTransformationProperty{{
				MetricNamespace: metricNamespace,
				MetricName:      jsii.String(a.ID),
				MetricValue:     jsii.String("1"),
			}},
		})
		s.alarm(a.ID+"Alarm", &awscloudwatch.CfnAlarmProps{
			AlarmDescription:   jsii.String(fmt.Sprintf("Latchkey audit event %s: %s", a.Msg, a.Reason)),
			Namespace:          metricNamespace,
			MetricName:         jsii.String(a.ID),
			Statistic:          jsii.String("Sum"),
			Period:             jsii.Number(300),
			EvaluationPeriods:  jsii.Number(1),
			Threshold:          jsii.Number(1),
			ComparisonOperator: jsii.String("GreaterThanOrEqualToThreshold"),
			TreatMissingData:   jsii.String("notBreaching"),
		})
	}
	errorsAlarm := fn.MetricErrors(&awscloudwatch.MetricOptions{
		Period:    awscdk.Duration_Minutes(jsii.Number(5)),
		Statistic: jsii.String("Sum"),
	}).CreateAlarm(s.Stack, jsii.String(id+"ErrorsAlarm"), &awscloudwatch.CreateAlarmOptions{
		AlarmDescription:   jsii.String(fmt.Sprintf("Latchkey %s function errors (crashes, timeouts, unhandled errors) in the last 5 minutes", spec.Name)),
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	s.notify(errorsAlarm.Node().DefaultChild().(awscloudwatch.CfnAlarm))
	return fn, routes
}

// metricNamespace holds the metrics of the audit events, one namespace per stack.
var metricNamespace = awscdk.Fn_Sub(jsii.String("Latchkey/${AWS::StackName}"), nil)

// alarm defines a CloudWatch alarm that notifies the AlarmTopicArn.
func (s *LatchkeyStack) alarm(id string, props *awscloudwatch.CfnAlarmProps) {
	s.notify(awscloudwatch.NewCfnAlarm(s.Stack, jsii.String(id), props))
}

// notify sends the alarm to the AlarmTopicArn parameter's topic, when it is set.
func (s *LatchkeyStack) notify(a awscloudwatch.CfnAlarm) {
	a.AddPropertyOverride(jsii.String("AlarmActions"), awscdk.Fn_ConditionIf(jsii.String("HasAlarmTopic"),
		[]any{s.alarmTopic.ValueAsString()}, awscdk.Aws_NO_VALUE()))
}

// protectEdge throttles the $default stage (the whole API, then tighter on the ceremony and
// token routes), writes its access log and alarms on its 5xx answers. The stage depends on the
// routes: API Gateway refuses route settings of a route that does not exist yet.
func (s *LatchkeyStack) protectEdge(params map[string]awscdk.CfnParameter, routes []constructs.IConstruct) {
	accessLogs := awslogs.NewLogGroup(s.Stack, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_ONE_MONTH,
	})
	throttle := func(rate, burst string) map[string]any {
		return map[string]any{
			"ThrottlingRateLimit":  params[rate].ValueAsNumber(),
			"ThrottlingBurstLimit": params[burst].ValueAsNumber(),
		}
	}
	routeSettings := map[string]any{tokenRoute: throttle("TokenThrottleRate", "TokenThrottleBurst")}
	for _, r := range ceremonyRoutes {
		routeSettings[r] = throttle("CeremonyThrottleRate", "CeremonyThrottleBurst")
	}
	stage := s.Api.DefaultStage().Node().DefaultChild().(awsapigatewayv2.CfnStage)
	stage.AddPropertyOverride(jsii.String("DefaultRouteSettings"), throttle("ThrottleRate", "ThrottleBurst"))
	stage.AddPropertyOverride(jsii.String("RouteSettings"), routeSettings)
	stage.AddPropertyOverride(jsii.String("AccessLogSettings"), map[string]any{
		"DestinationArn": accessLogs.LogGroupArn(),
		"Format":         accessLogFormat,
	})
	for _, r := range routes {
		stage.Node().AddDependency(r)
	}
	s.alarm("Api5xxAlarm", &awscloudwatch.CfnAlarmProps{
		AlarmDescription: jsii.String("Latchkey API answered 5xx (function errors, timeouts, integration failures) in the last 5 minutes"),
		Namespace:        jsii.String("AWS/ApiGateway"),
		MetricName:       jsii.String("5xx"),
		Dimensions: &[]any{
			&awscloudwatch.CfnAlarm_DimensionProperty{Name: jsii.String("ApiId"), Value: s.Api.ApiId()},
			&awscloudwatch.CfnAlarm_DimensionProperty{Name: jsii.String("Stage"), Value: jsii.String("$default")},
		},
		Statistic:          jsii.String("Sum"),
		Period:             jsii.Number(300),
		EvaluationPeriods:  jsii.Number(1),
		Threshold:          jsii.Number(1),
		ComparisonOperator: jsii.String("GreaterThanOrEqualToThreshold"),
		TreatMissingData:   jsii.String("notBreaching"),
	})
}

// mapDomain maps the optional custom domain to the API's $default stage; its DNS name for a
// CNAME or alias record is the DomainTarget output.
func (s *LatchkeyStack) mapDomain(domain, certificate *string) {
	cond := s.Stack.Node().FindChild(jsii.String("HasDomainName")).(awscdk.CfnCondition)
	dn := awsapigatewayv2.NewCfnDomainName(s.Stack, jsii.String("ApiDomainName"), &awsapigatewayv2.CfnDomainNameProps{
		DomainName: domain,
		DomainNameConfigurations: &[]any{&awsapigatewayv2.CfnDomainName_DomainNameConfigurationProperty{
			CertificateArn: certificate,
			EndpointType:   jsii.String("REGIONAL"),
			SecurityPolicy: jsii.String("TLS_1_2"),
		}},
	})
	dn.CfnOptions().SetCondition(cond)
	// cfn-lint checks the CertificateArn default "" against the ARN pattern; the resource only
	// exists with a DomainName, and the DomainNameNeedsCertificate rule then requires the ARN.
	dn.AddMetadata(jsii.String("cfn-lint"), map[string]any{"config": map[string]any{"ignore_checks": []string{"W1030"}}})
	mapping := awsapigatewayv2.NewCfnApiMapping(s.Stack, jsii.String("ApiDomainMapping"), &awsapigatewayv2.CfnApiMappingProps{
		ApiId:      s.Api.ApiId(),
		DomainName: dn.Ref(),
		Stage:      jsii.String("$default"),
	})
	mapping.CfnOptions().SetCondition(cond)
	mapping.Node().AddDependency(s.Api.DefaultStage())
	out := awscdk.NewCfnOutput(s.Stack, jsii.String("DomainTarget"), &awscdk.CfnOutputProps{
		Description: jsii.String("DNS name to point DomainName at (CNAME or alias record)"),
		Value:       dn.AttrRegionalDomainName(),
	})
	out.SetCondition(cond)
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
	case IDTokenKey:
		return s.IDTokenKey.KeyArn()
	case HmacSecret:
		return s.Secret.SecretArn()
	case MachineSecret:
		return s.MachineSecret.SecretArn()
	case Table:
		return s.Table.TableArn()
	case TableIndexes:
		return awscdk.Fn_Join(jsii.String(""), &[]*string{s.Table.TableArn(), jsii.String("/index/*")})
	case EmailIdentity:
		return s.emailIdentity
	}
	// Unreachable: Resource is a closed set and the tests synthesize every grant of the catalog.
	panic(fmt.Sprintf("infra: no ARN for resource %q", r))
}

// signingKey is an asymmetric SIGN_VERIFY KMS key of spec, kept when the stack is deleted, with
// the alias alias/latchkey-<stack name><suffix>.
func signingKey(stack awscdk.Stack, id, description string, spec awskms.KeySpec, suffix string) awskms.Key {
	key := awskms.NewKey(stack, jsii.String(id), &awskms.KeyProps{
		Description:   jsii.String(description),
		KeySpec:       spec,
		KeyUsage:      awskms.KeyUsage_SIGN_VERIFY,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	awskms.NewAlias(stack, jsii.String(id+"Alias"), &awskms.AliasProps{
		AliasName: awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("alias/latchkey-"), stack.StackName(), jsii.String(suffix)}),
		TargetKey: key,
	})
	return key
}
