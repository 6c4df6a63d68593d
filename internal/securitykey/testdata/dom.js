// Runs webauthn.js against a fake DOM and a fake navigator.credentials
// and checks what it writes and submits. Usage: node dom.js webauthn.js
"use strict"
const fs = require("fs")
const vm = require("vm")
const assert = require("assert")

const source = fs.readFileSync(process.argv[2], "utf8")

function b64url(bytes) {
  return Buffer.from(bytes).toString("base64url")
}
function bytesOf(buffer) {
  return Array.from(new Uint8Array(buffer))
}

function page(fields) {
  const submitted = []
  const form = {
    children: [],
    appendChild(el) {
      el.form = form
      this.children.push(el)
      byName[el.name] = el
    },
    querySelector(sel) {
      return this.children.find((el) => sel.includes('[name="' + el.name + '"]') && sel.includes('"' + el.type + '"')) || null
    },
    submit() {
      const data = {}
      for (const el of this.children) data[el.name] = el.value
      submitted.push(data)
    },
  }
  const byName = {}
  for (const [name, value] of Object.entries(fields)) {
    form.appendChild({ name, type: "hidden", value })
  }
  const calls = []
  const window = {
    PublicKeyCredential: { isConditionalMediationAvailable: () => Promise.resolve(true) },
    alert: (m) => calls.push({ alert: String(m) }),
    dispatchEvent: (e) => calls.push({ event: e.type }),
  }
  const credential = (kind) => ({
    id: "AQID",
    rawId: new Uint8Array([1, 2, 3]).buffer,
    type: "public-key",
    response:
      kind === "create"
        ? {
            clientDataJSON: new Uint8Array([9]).buffer,
            attestationObject: new Uint8Array([250, 251]).buffer,
            getTransports: () => ["internal"],
          }
        : {
            clientDataJSON: new Uint8Array([9]).buffer,
            authenticatorData: new Uint8Array([7]).buffer,
            signature: new Uint8Array([255, 254]).buffer,
            userHandle: new Uint8Array([104, 105]).buffer,
          },
  })
  const navigator = {
    credentials: {
      get: (o) => (calls.push({ get: o }), Promise.resolve(credential("get"))),
      create: (o) => (calls.push({ create: o }), Promise.resolve(credential("create"))),
    },
  }
  const document = {
    getElementsByName: (n) => (byName[n] ? [byName[n]] : []),
    createElement: () => ({}),
  }
  window.window = window
  const ctx = vm.createContext({
    window, document, navigator, console, atob, btoa, Promise, Uint8Array, Object, JSON, String, AbortController,
    Event: class { constructor(type) { this.type = type } },
  })
  vm.runInContext(source, ctx)
  return { window, calls, submitted, byName }
}

const settle = () => new Promise((r) => setTimeout(r, 0))

async function main() {
  const challenge = [0xfb, 0xff, 0x00, 0x3e] // base64url needs - and _
  const options = {
    publicKey: {
      challenge: b64url(challenge),
      allowCredentials: [{ type: "public-key", id: b64url([1, 2, 3]) }],
    },
  }

  // Security key login, options from the trigger's value.
  let p = page({ webauthn_login_trigger: JSON.stringify(options), webauthn_login: "" })
  assert.ok(p.window.__oryWebAuthnInitialized)
  assert.deepStrictEqual(p.calls[0], { event: "oryWebAuthnInitialized" })
  for (const name of ["oryWebAuthnLogin", "oryWebAuthnRegistration", "oryPasskeyLogin",
    "oryPasskeyLoginAutocompleteInit", "oryPasskeyRegistration", "oryPasskeySettingsRegistration"]) {
    assert.strictEqual(typeof p.window[name], "function", name)
    assert.strictEqual(p.window["__" + name], p.window[name], "__" + name)
  }
  p.window.oryWebAuthnLogin()
  await settle()
  const got = p.calls.find((c) => c.get).get.publicKey
  assert.deepStrictEqual(bytesOf(got.challenge), challenge)
  assert.deepStrictEqual(bytesOf(got.allowCredentials[0].id), [1, 2, 3])
  assert.strictEqual(p.submitted.length, 1)
  assert.strictEqual(p.submitted[0].method, "webauthn")
  assert.deepStrictEqual(JSON.parse(p.submitted[0].webauthn_login), {
    id: "AQID", rawId: "AQID", type: "public-key",
    response: { clientDataJSON: "CQ", authenticatorData: "Bw", signature: "__4", userHandle: "aGk" },
  })

  // Legacy onclick passes the options inline.
  p = page({ webauthn_register_trigger: "", webauthn_register: "" })
  p.window.oryWebAuthnRegistration({ publicKey: { challenge: b64url(challenge), user: { id: b64url([5]), name: "x" } } })
  await settle()
  const created = p.calls.find((c) => c.create).create.publicKey
  assert.deepStrictEqual(bytesOf(created.user.id), [5])
  assert.deepStrictEqual(JSON.parse(p.submitted[0].webauthn_register).response,
    { clientDataJSON: "CQ", attestationObject: "-vs", transports: ["internal"] })

  // Passkey sign-up takes the user's name from the named trait.
  p = page({
    passkey_create_data: JSON.stringify({
      credentialOptions: { publicKey: { challenge: b64url(challenge), user: { id: b64url([6]), name: "RP", displayName: "RP" } } },
      displayNameFieldName: "traits.email",
    }),
    passkey_register: "",
    "traits.email": "alice@example.org",
  })
  p.window.oryPasskeyRegistration()
  await settle()
  const pk = p.calls.find((c) => c.create).create.publicKey
  assert.strictEqual(pk.user.name, "alice@example.org")
  assert.strictEqual(pk.user.displayName, "alice@example.org")
  assert.strictEqual(p.submitted[0].method, "passkey")
  assert.ok(p.submitted[0].passkey_register.includes("attestationObject"))

  // Passkey settings: plain options, its own result field.
  p = page({ passkey_create_data: JSON.stringify({ publicKey: { challenge: b64url(challenge), user: { id: b64url([6]) } } }), passkey_settings_register: "" })
  p.window.oryPasskeySettingsRegistration()
  await settle()
  assert.ok(p.submitted[0].passkey_settings_register.includes("attestationObject"))

  // Passkey autofill: conditional mediation, then the answer is submitted.
  p = page({ passkey_challenge: JSON.stringify({ publicKey: { challenge: b64url(challenge) } }), passkey_login: "", identifier: "" })
  await p.window.oryPasskeyLoginAutocompleteInit()
  await settle()
  const cond = p.calls.find((c) => c.get).get
  assert.strictEqual(cond.mediation, "conditional")
  assert.ok(cond.signal)
  assert.ok(p.submitted[0].passkey_login.includes("signature"))

  // Passkey button.
  p = page({ passkey_challenge: JSON.stringify({ publicKey: { challenge: b64url(challenge) } }), passkey_login: "" })
  p.window.oryPasskeyLogin()
  await settle()
  assert.strictEqual(p.submitted[0].method, "passkey")

  console.log("ok")
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
