package message

// template is one kind of message. Placeholders: {app}, {code}, {expires}, {cancel}, {how}
// and {when} (see Data.values); the HTML is the inside of <body>.
type template struct {
	subject, text, html string
}

const (
	htmlHead = `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"></head>` +
		`<body style="font-family: system-ui, sans-serif; line-height: 1.5; max-width: 36em">` + "\n"
	htmlFoot = "</body></html>\n"
	htmlCode = `<p style="font-size: 1.6em; font-family: ui-monospace, monospace; letter-spacing: 0.15em"><strong>{code}</strong></p>` + "\n"
)

var templates = map[string]template{
	SignUpCode: {
		subject: "Your {app} sign-up code: {code}",
		text: `Your {app} sign-up code is:

    {code}

Enter it on the page where you asked for it. It works once and expires in {expires}.

If you did not ask to create an account, ignore this email: nothing happens without the code.
`,
		html: `<p>Your {app} sign-up code is:</p>
` + htmlCode + `<p>Enter it on the page where you asked for it. It works once and expires in {expires}.</p>
<p>If you did not ask to create an account, ignore this email: nothing happens without the code.</p>
`,
	},
	SignUpTaken: {
		subject: "Someone tried to create a {app} account with your address",
		text: `Someone asked to create a new {app} account with this email address, which already has an account.
No new account was created.

If it was you: sign in with your passkey instead. If you lost your passkey, choose "Lost your passkey?" on the sign-in page to recover your account.

If it was not you, you need not do anything.
`,
		html: `<p>Someone asked to create a new {app} account with this email address, which already has an account. No new account was created.</p>
<p>If it was you: sign in with your passkey instead. If you lost your passkey, choose “Lost your passkey?” on the sign-in page to recover your account.</p>
<p>If it was not you, you need not do anything.</p>
`,
	},
	RecoveryCode: {
		subject: "Your {app} recovery code: {code}",
		text: `Someone asked to recover the {app} account of this email address, to add a new passkey to it. The code is:

    {code}

It works once and expires in {expires}, on the page where it was asked for.

If you did not ask for this, ignore this email: nothing happens without the code, and you will be told if a recovery starts.
`,
		html: `<p>Someone asked to recover the {app} account of this email address, to add a new passkey to it. The code is:</p>
` + htmlCode + `<p>It works once and expires in {expires}, on the page where it was asked for.</p>
<p>If you did not ask for this, ignore this email: nothing happens without the code, and you will be told if a recovery starts.</p>
`,
	},
	RecoveryStarted: {
		subject: "A recovery of your {app} account has started",
		text: `A recovery of your {app} account has started {how}.
It lets whoever started it add a new passkey to your account{when}, and ends every other session.

If this was you, you need not do anything.

If it was not you, cancel it now: sign in and cancel the pending recovery, or enter this cancel code on the sign-in page under "Cancel a recovery":

    {cancel}
`,
		html: `<p>A recovery of your {app} account has started {how}.
It lets whoever started it add a new passkey to your account{when}, and ends every other session.</p>
<p>If this was you, you need not do anything.</p>
<p><strong>If it was not you, cancel it now:</strong> sign in and cancel the pending recovery, or enter this cancel code on the sign-in page under “Cancel a recovery”:</p>
<p style="font-family: ui-monospace, monospace; word-break: break-all"><strong>{cancel}</strong></p>
`,
	},
	RecoveryCompleted: {
		subject: "A new passkey was added to your {app} account by a recovery",
		text: `A recovery of your {app} account has just added a new passkey to it, and every other session of the account was signed out.
Your other passkeys still work; you can remove any of them once signed in.

If this was not you, sign in with one of your passkeys now, remove the passkey you do not know, delete any API key you did not make, and create new recovery codes.
`,
		html: `<p>A recovery of your {app} account has just added a new passkey to it, and every other session of the account was signed out. Your other passkeys still work; you can remove any of them once signed in.</p>
<p>If this was not you, sign in with one of your passkeys now, remove the passkey you do not know, delete any API key you did not make, and create new recovery codes.</p>
`,
	},
	RecoveryCancelled: {
		subject: "The recovery of your {app} account was cancelled",
		text: `The pending recovery of your {app} account was cancelled. Nothing was changed in your account.
`,
		html: `<p>The pending recovery of your {app} account was cancelled. Nothing was changed in your account.</p>
`,
	},
}
