// rp.js is the example relying party of the local stack, at /local/rp/: a single-page app that
// signs in through Latchkey's OpenID provider with oidc-client-ts (the global oidc, loaded from
// /vendor/), as a team's own app would. The authorization code flow with PKCE S256 (which
// oidc-client-ts always uses): the button sends the browser to the provider's authorization
// endpoint; its sign-in page sends it back to /local/rp/callback with a code, which the library
// exchanges at the token endpoint. Then the page shows the ID token's claims, calls
// /local/echo (behind the authorizer, as the app's API would be) with the access token, and
// signs out through the provider's end-session endpoint (RP-initiated logout, with
// id_token_hint and post_logout_redirect_uri), which brings the browser back to /local/rp/.
//
// The client is local-rp, which make dev declares (public, its redirect URI this origin's
// /local/rp/callback). oidc-client-ts keeps the user (its tokens and claims) in this tab's
// sessionStorage. body[data-state] is loading, signed-out, signed-in or error; body[data-echo]
// the status of the last /local/echo call.
'use strict';

(() => {
  const $ = (selector) => document.querySelector(selector);
  const body = document.body;
  const callbackPath = '/local/rp/callback';

  function showError(text) {
    $('#error').textContent = text;
    $('#error').hidden = !text;
  }

  function showMessage(text) {
    $('#message').textContent = text;
  }

  function show(state, user) {
    body.dataset.state = state;
    $('#signed-out').hidden = state !== 'signed-out';
    $('#signed-in').hidden = state !== 'signed-in';
    $('#claims').textContent = user ? JSON.stringify(user.profile, null, 2) : '';
    $('#echo').hidden = true;
    $('#echo').textContent = '';
  }

  // describe turns what oidc-client-ts throws into a sentence: an OAuth error the provider sent
  // back (error, error_description), or the library's own message.
  function describe(err) {
    if (err?.error) return `The provider answered ${err.error}${err.error_description ? `: ${err.error_description}` : ''}.`;
    return String(err?.message || err);
  }

  async function main() {
    if (typeof window.oidc?.UserManager !== 'function') {
      show('error');
      showError('The oidc-client-ts bundle is missing from /vendor/: start the page with `make dev`.');
      return;
    }
    if (['127.0.0.1', '[::1]'].includes(location.hostname)) {
      const url = `${location.protocol}//localhost${location.port ? `:${location.port}` : ''}/local/rp/`;
      $('#origin-link').href = url;
      $('#origin-link').textContent = url;
      $('#origin-warning').hidden = false;
      $('#signin-button').disabled = true;
    }
    body.dataset.library = oidc.Version;

    const manager = new oidc.UserManager({
      authority: location.origin,
      client_id: 'local-rp',
      redirect_uri: location.origin + callbackPath,
      post_logout_redirect_uri: `${location.origin}/local/rp/`,
      response_type: 'code',
      scope: 'openid email profile offline_access',
    });

    $('#signin-button').addEventListener('click', async () => {
      showError('');
      $('#signin-button').disabled = true;
      try {
        await manager.signinRedirect();
      } catch (err) {
        $('#signin-button').disabled = false;
        showError(`Could not start the sign-in: ${describe(err)}`);
      }
    });

    $('#signout-button').addEventListener('click', async () => {
      showError('');
      try {
        // With state, the provider's redirect back carries it, and the library checks it.
        await manager.signoutRedirect({ state: 'signed-out' });
      } catch (err) {
        showError(`Could not sign out: ${describe(err)}`);
      }
    });

    $('#echo-button').addEventListener('click', async () => {
      showError('');
      const user = await manager.getUser();
      if (!user) {
        show('signed-out');
        return;
      }
      try {
        const resp = await fetch('/local/echo', { headers: { Authorization: `Bearer ${user.access_token}` }, cache: 'no-store' });
        const text = await resp.text();
        let shown = text;
        try {
          shown = JSON.stringify(JSON.parse(text), null, 2);
        } catch {
          // not JSON: shown as it came
        }
        $('#echo').textContent = `${resp.status} ${resp.statusText}\n${shown}`;
        $('#echo').hidden = false;
        body.dataset.echo = String(resp.status);
      } catch (err) {
        body.dataset.echo = 'failed';
        showError(`GET /local/echo failed: ${describe(err)}`);
      }
    });

    const params = new URLSearchParams(location.search);
    try {
      if (location.pathname === callbackPath && (params.has('code') || params.has('error'))) {
        // Back from the provider: exchange the code (or read its error), then drop code and
        // state from the address, so a reload does not try to spend the code again.
        const user = await manager.signinRedirectCallback();
        history.replaceState(null, '', callbackPath);
        show('signed-in', user);
        showMessage('Signed in with Latchkey.');
        return;
      }
      if (location.pathname !== callbackPath && params.has('state')) {
        // Back from the provider's end-session endpoint.
        await manager.signoutRedirectCallback();
        history.replaceState(null, '', '/local/rp/');
        show('signed-out');
        showMessage('Signed out of Latchkey.');
        return;
      }
    } catch (err) {
      history.replaceState(null, '', location.pathname);
      show('signed-out');
      body.dataset.state = 'error';
      showError(describe(err));
      return;
    }
    const user = await manager.getUser();
    if (user && !user.expired) show('signed-in', user);
    else show('signed-out');
  }

  main().catch((err) => {
    body.dataset.state = 'error';
    showError(describe(err));
  });
})();
