// An OpenID provider for the tests (tests/oidc.rs): panva's oidc-provider on loopback, whose
// development interactions accept any login, wrapped so that a test can make it misbehave.
//
// It listens on 127.0.0.1, port 0, and prints `listening http://127.0.0.1:PORT` (the issuer).
// The client is registered by the test once the farm knows its own address:
//   POST /__test/setup   {"client_id", "client_secret", "redirect_uris": [...]}
// Then, between logins:
//   POST /__test/mode    {"mode": "normal" | "wrong_audience" | "wrong_issuer" | "expired" |
//                         "bad_signature" | "replay_nonce"}
//   POST /__test/account {"login": "alice", "claims": {"email_verified": false, ...}}
//   POST /__test/rotate  the signing key changes (new kid; the old key leaves the JWKS)
//   GET  /__test/stats   {"jwks_fetches": N, "token_requests": N}
// Every ID token the provider issues is re-signed here with the current key, after the mode's
// change, so a misbehaving token is still a well-formed JWT.

import { createServer } from 'node:http';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import Provider from 'oidc-provider';

const state = {
  provider: null,
  mode: 'normal',
  accounts: {},
  keys: [],
  lastPayload: null,
  jwksFetches: 0,
  tokenRequests: 0,
};

async function newKey(kid) {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, publicKey, privateKey, jwk, privateJwk };
}

function claimsOf(login) {
  const base = {
    sub: login,
    preferred_username: login,
    name: login,
    email: `${login.toLowerCase()}@example.org`,
    email_verified: true,
    groups: [],
  };
  return { ...base, ...(state.accounts[login] || {}) };
}

async function resign(idToken) {
  const payload = decodeJwt(idToken);
  const now = Math.floor(Date.now() / 1000);
  const previous = state.lastPayload;
  state.lastPayload = { ...payload };
  switch (state.mode) {
    case 'wrong_audience':
      payload.aud = 'someone-else';
      break;
    case 'wrong_issuer':
      payload.iss = 'http://127.0.0.1:9/not-the-issuer';
      break;
    case 'expired':
      payload.iat = now - 7200;
      payload.exp = now - 3600;
      break;
    case 'replay_nonce':
      if (previous) payload.nonce = previous.nonce;
      break;
    default:
      break;
  }
  const current = state.keys[state.keys.length - 1];
  let key = current.privateKey;
  if (state.mode === 'bad_signature') {
    key = (await generateKeyPair('RS256')).privateKey; // same kid, another key
  }
  return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: current.kid }).sign(key);
}

async function body(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

function json(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

function makeProvider(issuer, setup) {
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: setup.client_id,
        client_secret: setup.client_secret,
        redirect_uris: setup.redirect_uris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [state.keys[0].privateJwk] },
    cookies: { keys: ['test-cookie-key-0123456789'] },
    // Claims of the scopes go into the ID token itself.
    conformIdTokenClaims: false,
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['preferred_username', 'name'],
      groups: ['groups'],
    },
    scopes: ['openid', 'email', 'profile', 'groups'],
    pkce: { methods: ['S256'], required: () => true },
    features: { devInteractions: { enabled: true } },
    findAccount: async (ctx, id) => ({ accountId: id, claims: async () => claimsOf(id) }),
    // No consent page: every scope the client asks for is granted.
    loadExistingGrant: async (ctx) => {
      const grantId =
        ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) {
        const grant = await ctx.oidc.provider.Grant.find(grantId);
        if (grant) return grant;
      }
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid email profile groups');
      await grant.save();
      return grant;
    },
  });
  provider.use(async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === '/jwks') {
      state.jwksFetches += 1;
      ctx.type = 'application/jwk-set+json';
      ctx.body = { keys: state.keys.map((k) => k.jwk) };
      return;
    }
    await next();
    if (ctx.method === 'POST' && ctx.path === '/token') {
      state.tokenRequests += 1;
      if (ctx.body && typeof ctx.body === 'object' && ctx.body.id_token) {
        ctx.body = { ...ctx.body, id_token: await resign(ctx.body.id_token) };
      }
    }
  });
  return provider;
}

state.keys.push(await newKey('key-1'));
let issuer = null;
let handler = null;

const server = createServer(async (req, res) => {
  try {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/__test/setup' && req.method === 'POST') {
      state.provider = makeProvider(issuer, await body(req));
      handler = state.provider.callback();
      return json(res, 200, { issuer });
    }
    if (path === '/__test/mode' && req.method === 'POST') {
      state.mode = (await body(req)).mode;
      return json(res, 200, { mode: state.mode });
    }
    if (path === '/__test/account' && req.method === 'POST') {
      const { login, claims } = await body(req);
      state.accounts[login] = claims;
      return json(res, 200, {});
    }
    if (path === '/__test/rotate' && req.method === 'POST') {
      const next = await newKey(`key-${state.keys.length + 1}`);
      state.keys = [next];
      return json(res, 200, { kid: next.kid });
    }
    if (path === '/__test/stats' && req.method === 'GET') {
      return json(res, 200, { jwks_fetches: state.jwksFetches, token_requests: state.tokenRequests });
    }
    if (!handler) return json(res, 503, { error: 'not set up' });
    return handler(req, res);
  } catch (err) {
    console.error(err);
    return json(res, 500, { error: String(err) });
  }
});

server.listen(0, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  console.log(`listening ${issuer}`);
});

process.stdin.on('end', () => process.exit(0)); // the test closed our stdin: it is done
process.stdin.resume();
