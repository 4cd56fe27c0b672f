// signin.js is the script of Latchkey's hosted sign-in page (GET /oauth2/signin), served from
// the issuer's own origin: it signs the person in with a passkey (the button, or the browser's
// autofill), signs them up with an email code and a new passkey, or lets them add a new passkey
// when theirs is lost (a recovery code, or an email code after the recovery delay). Each way
// ends with a token response of the JSON API; its access token then completes the
// authorization request (POST /oauth2/authorize/complete, with the browser's binding cookie),
// and the page goes where the answer says: back to the application with a code.
//
// It uses the browser's own WebAuthn JSON methods (PublicKeyCredential.parseRequestOptionsFromJSON,
// parseCreationOptionsFromJSON, PublicKeyCredential.toJSON) and no other script. Tokens stay in
// this script's memory for the one request that needs them and are never shown or logged. A
// recovery waiting for its delay keeps its token in sessionStorage, as the demo page does: this
// tab alone, gone when it closes.
//
// body[data-state] is loading, ready, unsupported, expired or redirecting; body[data-autofill]
// unsupported, waiting, failed or off; body[data-signup] email or code; body[data-recovery]
// start, code-sent, waiting or ready.
'use strict';

(() => {
  const $ = (selector) => document.querySelector(selector);
  const body = document.body;
  const requestId = body.dataset.request || '';
  const loginHint = body.dataset.hint || '';
  const clientName = $('#client-name').textContent;

  // A login challenge lives five minutes on the server; autofill asks for a new one before then.
  const autofillRenewMs = 4 * 60_000;
  const recoveryKey = 'latchkey-signin-recovery';

  // ApiError is a non-2xx answer with its problem+json body: code is the problem's code member
  // (docs/api.md, errors), detail its sentence.
  class ApiError extends Error {
    constructor(status, problem, retryAfter) {
      super(problem?.detail || problem?.title || `The server answered ${status}.`);
      this.status = status;
      this.problem = problem && typeof problem === 'object' ? problem : {};
      this.code = typeof this.problem.code === 'string' ? this.problem.code : '';
      this.retryAfter = Number(retryAfter) || 0;
    }
  }

  // api POSTs a JSON body to a route of this origin, with an access token when one is given,
  // and returns the parsed answer; a non-2xx answer throws an ApiError.
  async function api(path, payload, accessToken) {
    const headers = { Accept: 'application/json, application/problem+json', 'Content-Type': 'application/json' };
    if (accessToken) headers.Authorization = `Bearer ${accessToken}`;
    const resp = await fetch(path, {
      method: 'POST',
      headers,
      body: JSON.stringify(payload),
      credentials: 'same-origin',
      cache: 'no-store',
    });
    const text = await resp.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!resp.ok) throw new ApiError(resp.status, data, resp.headers.get('Retry-After'));
    return data;
  }

  function abortError() {
    return new DOMException('superseded by another ceremony', 'AbortError');
  }

  // ---------------------------------------------------------------------------------------------
  // Completing the authorization request

  // complete hands the access token of a token response to authorize/complete, which answers
  // the address to go back to (the client's redirect URI with a code), and goes there. made
  // says what the ceremony made, for the expired view: "account" or "passkey".
  async function complete(tokens, made = '') {
    if (!tokens?.access_token) throw new Error('The server did not sign you in. Try again.');
    let done;
    try {
      done = await api('/oauth2/authorize/complete', { request: requestId }, tokens.access_token);
    } catch (err) {
      if (err instanceof ApiError) err.made = made;
      throw err;
    }
    let target;
    try {
      target = new URL(done?.redirect);
    } catch {
      throw new Error('The server sent no address to go back to. Try again.');
    }
    if (['javascript:', 'data:', 'vbscript:', 'blob:', 'file:'].includes(target.protocol)) {
      throw new Error('The server sent an address this page will not open.');
    }
    stopAutofill();
    body.dataset.state = 'redirecting';
    showMessage(`Signed in. Taking you back to ${clientName}…`);
    location.assign(target.href);
  }

  function showExpired(made) {
    stopAutofill();
    $('#expired-made').textContent = {
      account: 'Your account and its passkey are ready: sign in with the passkey there.',
      passkey: 'Your new passkey is ready: sign in with it there.',
    }[made] || '';
    body.dataset.state = 'expired';
    $('#ceremonies').hidden = true;
    $('#expired').hidden = false;
    $('#back-button').hidden = history.length < 2;
    showMessage('');
  }

  // ---------------------------------------------------------------------------------------------
  // Ceremonies

  // signIn runs one discoverable passkey sign-in: from the button, or with conditional set
  // through the browser's autofill. stale says whether a newer ceremony has taken over.
  async function signIn({ conditional = false, signal, stale = () => false } = {}) {
    const begin = await api('/v1/passkeys/login/begin', {});
    if (stale()) throw abortError();
    const options = { publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(begin.publicKey) };
    if (conditional) Object.assign(options, { mediation: 'conditional', signal });
    if (conditional) body.dataset.autofill = 'waiting';
    const credential = await navigator.credentials.get(options);
    if (stale()) throw abortError();
    if (!credential) throw new Error('No passkey was chosen.');
    try {
      return await api('/v1/passkeys/login/finish', { challengeId: begin.challengeId, credential: credential.toJSON() });
    } catch (err) {
      // A passkey no account holds (deleted, say): tell the browser to stop offering it.
      if (err instanceof ApiError && err.code === 'unknown_credential') {
        signalUnknown(begin.publicKey.rpId || location.hostname, err.problem.credentialId || credential.id);
      }
      throw err;
    }
  }

  // register makes a passkey for a new account (body holds its signupToken) or a recovered one
  // (its recoveryToken), and returns the token response register/finish answers with.
  async function register(tokenBody) {
    await stopAutofill();
    const begin = await api('/v1/passkeys/register/begin', tokenBody);
    const rpId = begin.publicKey.rp?.id || location.hostname;
    const credential = await navigator.credentials.create({
      publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(begin.publicKey),
    });
    if (!credential) throw new Error('No passkey was made.');
    try {
      return await api('/v1/passkeys/register/finish', { challengeId: begin.challengeId, credential: credential.toJSON() });
    } catch (err) {
      // The authenticator made a passkey the server refused: the browser should forget it.
      if (err instanceof ApiError && err.code === 'credential_not_saved' && err.problem.credentialId) {
        signalUnknown(rpId, err.problem.credentialId);
      }
      throw err;
    }
  }

  function signalUnknown(rpId, credentialId) {
    if (typeof PublicKeyCredential.signalUnknownCredential !== 'function' || !rpId || !credentialId) return;
    PublicKeyCredential.signalUnknownCredential({ rpId, credentialId })
      .then(() => { body.dataset.signalUnknown = credentialId; })
      .catch((err) => console.warn('signalUnknownCredential failed:', err?.name));
  }

  // ---------------------------------------------------------------------------------------------
  // Autofill (conditional mediation)
  //
  // While the page waits, a discoverable sign-in is pending with mediation "conditional": the
  // browser offers this site's passkeys among the suggestions of the email field. Any other
  // ceremony first stops it (stopAutofill) and waits until the browser has let it go: a browser
  // refuses a new WebAuthn request while the last one is still pending.

  const autofill = { run: 0, timer: 0, failures: 0, controller: null, settled: Promise.resolve() };

  async function startAutofill() {
    await stopAutofill();
    const run = ++autofill.run;
    if (body.dataset.state !== 'ready') return;
    let available = false;
    try {
      available = await PublicKeyCredential.isConditionalMediationAvailable?.();
    } catch {
      available = false;
    }
    if (!available) {
      body.dataset.autofill = 'unsupported';
      return;
    }
    if (run !== autofill.run) return;
    const controller = new AbortController();
    autofill.controller = controller;
    autofill.timer = setTimeout(startAutofill, autofillRenewMs);
    const stale = () => run !== autofill.run;
    const attempt = signIn({ conditional: true, signal: controller.signal, stale });
    autofill.settled = attempt.then(() => {}, () => {});
    let tokens;
    try {
      tokens = await attempt;
    } catch (err) {
      if (stale() || err?.name === 'AbortError') return;
      clearTimeout(autofill.timer);
      body.dataset.autofill = 'failed';
      // NotAllowedError: the browser ended the request itself; nobody asked for anything.
      if (err?.name !== 'NotAllowedError') showError(err, $('#signin-error'));
      autofill.failures++;
      autofill.timer = setTimeout(startAutofill, Math.min(2000 * 2 ** (autofill.failures - 1), 60_000));
      return;
    }
    autofill.failures = 0;
    await stopAutofill();
    await guarded($('#signin-error'), () => complete(tokens));
  }

  // stopAutofill makes the pending autofill sign-in stale, aborts the browser's side of it and
  // waits until it has settled. startAutofill calls it first: so a renewal, or a restart after
  // another ceremony failed, never finds the last request still pending.
  async function stopAutofill() {
    autofill.run++;
    clearTimeout(autofill.timer);
    autofill.controller?.abort(abortError());
    autofill.controller = null;
    if (body.dataset.autofill !== 'unsupported') body.dataset.autofill = 'off';
    await autofill.settled;
  }

  // ---------------------------------------------------------------------------------------------
  // Sign-up: email, code, passkey. A right code's signupToken is kept in memory until the
  // account exists, so that a closed passkey prompt can be tried again without a new code.

  const signup = { email: '', flowId: '', token: '' };

  function showSignUpStep(step) {
    body.dataset.signup = step;
    $('#signup-form').hidden = step !== 'email';
    $('#signup-code-form').hidden = step !== 'code';
    if (step === 'email') Object.assign(signup, { flowId: '', token: '' });
    $('#signup-code').readOnly = Boolean(signup.token);
  }

  async function askForCode(email, purpose) {
    try {
      return await api('/v1/email/begin', { email, purpose });
    } catch (err) {
      if (err instanceof ApiError && err.status === 429) {
        err.friendly = `A code was sent a moment ago: check your inbox (and spam folder), or ask again in ${seconds(err.retryAfter || 60)}.`;
      }
      throw err;
    }
  }

  async function sendSignUpCode() {
    const email = checkedEmail($('#signup-email'));
    const start = await askForCode(email, 'signup');
    Object.assign(signup, { email, flowId: start.flowId, token: '' });
    $('#signup-sent-to').textContent = email;
    $('#signup-code').value = '';
    showSignUpStep('code');
    $('#signup-code').focus();
  }

  async function finishSignUp() {
    if (!signup.token) {
      const code = sixDigits($('#signup-code'));
      const verified = await api('/v1/email/verify', { flowId: signup.flowId, code });
      signup.token = verified.signupToken;
      $('#signup-code').readOnly = true;
    }
    let tokens;
    try {
      tokens = await register({ signupToken: signup.token });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'invalid_token') {
        showSignUpStep('email');
        err.friendly = 'Your address was verified too long ago, or its code was used already: ask for a new code.';
      } else if (!(err instanceof ApiError)) {
        err.friendly = `${errorText(err)} Your address is verified: press the button to try the passkey again.`;
      }
      throw err;
    }
    await complete(tokens, 'account');
  }

  // ---------------------------------------------------------------------------------------------
  // Recovery: a recovery code gives a recoveryToken usable at once; an email code one usable
  // from availableAt, after a delay in which the account's owner, emailed at once, can cancel.
  // The token then registers a new passkey (register/begin with recoveryToken), which signs in.

  let recovery = null; // { token, availableAt (ms since the epoch) }
  let recoveryTimer = 0;
  const recoveryFlow = { email: '', flowId: '' };

  function loadRecovery() {
    try {
      const r = JSON.parse(sessionStorage.getItem(recoveryKey) || 'null');
      recovery = r?.token ? { token: String(r.token), availableAt: Number(r.availableAt) || 0 } : null;
    } catch {
      recovery = null;
    }
  }

  function keepRecovery(token, availableAt) {
    const at = Date.parse(availableAt);
    recovery = { token, availableAt: Number.isNaN(at) ? Date.now() : at };
    sessionStorage.setItem(recoveryKey, JSON.stringify(recovery));
  }

  function forgetRecovery() {
    recovery = null;
    sessionStorage.removeItem(recoveryKey);
  }

  // recoveryReady: availableAt is in whole seconds, so the page waits a second past it.
  function recoveryReady() {
    return Boolean(recovery) && Date.now() >= recovery.availableAt + 1000;
  }

  function showRecoveryStep(step) {
    $('#recover-start').hidden = step !== 'start';
    $('#recover-email-code-form').hidden = step !== 'code-sent';
    $('#recover-wait').hidden = step !== 'wait';
    clearInterval(recoveryTimer);
    body.dataset.recovery = step;
    if (step === 'wait') {
      $('#recover').open = true;
      tickRecovery();
      recoveryTimer = setInterval(tickRecovery, 1000);
    }
  }

  function tickRecovery() {
    const ready = recoveryReady();
    $('#recover-wait-text').textContent = ready
      ? 'You can add your new passkey now.'
      : `For your safety, the new passkey can be added from ${when(recovery?.availableAt)}. We emailed the account's owner, who can cancel the recovery until then. Keep this tab, or come back to it then, and press the button.`;
    $('#recover-enrol-button').disabled = !ready;
    body.dataset.recovery = ready ? 'ready' : 'waiting';
    if (ready) clearInterval(recoveryTimer);
  }

  async function recoverWithCode() {
    const input = $('#recover-code');
    const code = input.value.trim();
    if (!code) {
      input.focus();
      throw new Error('Enter one of your recovery codes.');
    }
    let verified;
    try {
      verified = await api('/v1/recovery/codes/verify', { code });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'invalid_code') {
        err.friendly = 'That recovery code does not work: it may be mistyped, used already, or replaced by newer codes.';
      }
      throw err;
    }
    input.value = '';
    keepRecovery(verified.recoveryToken, verified.availableAt);
    showRecoveryStep('wait');
    await enrolRecovered();
  }

  async function sendRecoveryCode() {
    const email = checkedEmail($('#recover-email'));
    const start = await askForCode(email, 'recovery');
    Object.assign(recoveryFlow, { email, flowId: start.flowId });
    $('#recover-sent-to').textContent = email;
    $('#recover-email-code').value = '';
    showRecoveryStep('code-sent');
    $('#recover-email-code').focus();
  }

  async function recoverWithEmailCode() {
    const code = sixDigits($('#recover-email-code'));
    const verified = await api('/v1/email/verify', { flowId: recoveryFlow.flowId, code });
    keepRecovery(verified.recoveryToken, verified.availableAt);
    showRecoveryStep('wait');
    // No delay (availableAt is now): the passkey is asked for at once.
    if (recovery.availableAt <= Date.now()) await enrolRecovered();
  }

  async function enrolRecovered() {
    if (!recovery) throw new Error('This tab holds no recovery any more: start again.');
    let tokens;
    try {
      tokens = await register({ recoveryToken: recovery.token });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'recovery_not_available') {
        keepRecovery(recovery.token, err.problem.availableAt);
        showRecoveryStep('wait');
      } else if (err instanceof ApiError && err.code === 'invalid_token') {
        forgetRecovery();
        showRecoveryStep('start');
        err.friendly = 'This recovery is over: it was used already, cancelled by the account’s owner, or it expired. Start a new one if you still need it.';
      }
      throw err;
    }
    forgetRecovery();
    await complete(tokens, 'passkey');
  }

  // ---------------------------------------------------------------------------------------------
  // Sentences

  function checkedEmail(input) {
    const email = input.value.trim();
    if (!/^[^\s@]+@[^\s@]+$/.test(email)) {
      input.focus();
      throw new Error(email ? 'That does not look like an email address.' : 'Enter your email address.');
    }
    return email;
  }

  function sixDigits(input) {
    const code = input.value.replace(/[\s-]/g, '');
    if (!/^\d{6}$/.test(code)) {
      input.focus();
      throw new Error('The code is the 6 digits in the email.');
    }
    return code;
  }

  function seconds(n) {
    return n >= 90 ? `${Math.ceil(n / 60)} minutes` : `${n} seconds`;
  }

  const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  const secondsFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });

  // when says a time in the person's time zone; one within the hour to the second.
  function when(ms) {
    if (!ms) return 'later';
    return (ms - Date.now() < 3_600_000 ? secondsFormat : timeFormat).format(new Date(ms));
  }

  function sentence(text) {
    const t = String(text || '').trim();
    if (!t) return '';
    const s = t[0].toUpperCase() + t.slice(1);
    return /[.!?]$/.test(s) ? s : `${s}.`;
  }

  // errorText turns a failure into a sentence: the server's detail for an API problem, a
  // plain explanation for a WebAuthn exception.
  function errorText(err) {
    if (err?.friendly) return err.friendly;
    if (err instanceof ApiError) {
      switch (err.code) {
        case 'unknown_credential':
          return 'No account here has this passkey any more (it may have been deleted); your browser was told to stop offering it. Sign in with another passkey, or create an account.';
        case 'unauthenticated':
          return 'Signing in with that passkey did not work. Try again, or pick another passkey.';
        case 'login_required':
          return `${clientName} asks you to sign in again: use your passkey once more.`;
        case 'invalid_flow':
          return 'This code has expired, or was tried too many times: ask for a new code.';
        case 'rate_limited':
          return `Too many attempts in a short time. Try again in ${seconds(err.retryAfter || 60)}.`;
        case 'unavailable':
          return 'The service is unavailable for a moment. Try again shortly.';
        case 'internal':
          return 'Something went wrong on the server. Try again.';
      }
      if (err.status >= 500) return 'The service is unavailable for a moment. Try again shortly.';
      return sentence(err.message);
    }
    switch (err?.name) {
      case 'NotAllowedError':
        return 'The passkey prompt was closed or timed out, or no passkey was available.';
      case 'InvalidStateError':
        return 'This device already holds a passkey for this account: sign in with it.';
      case 'SecurityError':
        return `Passkeys do not work on this address (${location.origin}).`;
    }
    if (err instanceof TypeError && /fetch/i.test(err.message)) return 'The server cannot be reached. Check your connection and try again.';
    return sentence(err?.message) || 'Something went wrong. Try again.';
  }

  function showMessage(text) {
    $('#message').textContent = text;
  }

  function showError(err, line) {
    line.textContent = errorText(err);
    line.dataset.code = err?.code || err?.name || '';
    line.hidden = false;
  }

  function clearErrors() {
    for (const line of document.querySelectorAll('.error[role="alert"]')) {
      line.hidden = true;
      line.textContent = '';
      line.dataset.code = '';
    }
  }

  // guarded runs an action and shows its failure in line; an expired request shows the
  // expired view instead, and the autofill sign-in waits again after any other failure.
  async function guarded(line, action) {
    try {
      await action();
    } catch (err) {
      if (err instanceof ApiError && err.code === 'request_expired') {
        showExpired(err.made);
        return;
      }
      if (err?.name !== 'AbortError') showError(err, line);
      if (body.dataset.state === 'ready' && !autofill.controller) startAutofill();
    }
  }

  // busy runs the action a button started: the button is off meanwhile.
  async function busy(button, action) {
    clearErrors();
    showMessage('');
    const line = button.closest('section, details')?.querySelector('.error') || $('#error');
    button.disabled = true;
    $('#main').setAttribute('aria-busy', 'true');
    try {
      await guarded(line, action);
    } finally {
      button.disabled = false;
      if (body.dataset.recovery === 'waiting') $('#recover-enrol-button').disabled = !recoveryReady();
      $('#main').removeAttribute('aria-busy');
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Wiring

  function on(selector, event, button, action) {
    $(selector).addEventListener(event, (e) => {
      e.preventDefault();
      busy($(button), action);
    });
  }

  function main() {
    const P = window.PublicKeyCredential;
    if (typeof P?.parseRequestOptionsFromJSON !== 'function' || typeof P.parseCreationOptionsFromJSON !== 'function' ||
        typeof P.prototype.toJSON !== 'function') {
      body.dataset.state = 'unsupported';
      $('#unsupported').hidden = false;
      return;
    }
    on('#signin-form', 'submit', '#signin-button', async () => {
      await stopAutofill();
      await complete(await signIn());
    });
    on('#signup-form', 'submit', '#signup-button', sendSignUpCode);
    on('#signup-code-form', 'submit', '#signup-verify-button', finishSignUp);
    $('#signup-back').addEventListener('click', () => {
      clearErrors();
      showSignUpStep('email');
      $('#signup-email').focus();
    });
    on('#recover-code-form', 'submit', '#recover-code-button', recoverWithCode);
    on('#recover-email-form', 'submit', '#recover-email-button', sendRecoveryCode);
    on('#recover-email-code-form', 'submit', '#recover-email-verify-button', recoverWithEmailCode);
    on('#recover-enrol-button', 'click', '#recover-enrol-button', enrolRecovered);
    $('#recover-email-back').addEventListener('click', () => {
      clearErrors();
      showRecoveryStep('start');
    });
    $('#recover-forget').addEventListener('click', () => {
      clearErrors();
      forgetRecovery();
      showRecoveryStep('start');
    });
    $('#back-button').addEventListener('click', () => history.back());

    $('#signup-email').value = loginHint;
    $('#recover-email').value = loginHint;
    showSignUpStep('email');
    loadRecovery();
    showRecoveryStep(recovery ? 'wait' : 'start');
    $('#ceremonies').hidden = false;
    body.dataset.state = 'ready';
    startAutofill();
  }

  main();
})();
