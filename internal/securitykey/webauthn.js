// Lanyard's webauthn.js: runs the WebAuthn ceremonies of login, registration
// and settings forms. The server puts the options in a form field; this
// script turns their base64url fields into bytes, asks the browser for a
// credential, writes the answer as JSON (base64url again) into the hidden
// field the server reads, and submits the form.
;(function () {
  "use strict"

  if (typeof window === "undefined" || window.__oryWebAuthnInitialized) {
    return
  }

  function toBytes(base64url) {
    var b64 = String(base64url).replace(/-/g, "+").replace(/_/g, "/")
    while (b64.length % 4) {
      b64 += "="
    }
    var binary = atob(b64)
    var bytes = new Uint8Array(binary.length)
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i)
    }
    return bytes.buffer
  }

  function toBase64url(buffer) {
    if (!buffer) {
      return undefined
    }
    var bytes = new Uint8Array(buffer)
    var binary = ""
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i])
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
  }

  function withBytesID(descriptor) {
    return Object.assign({}, descriptor, { id: toBytes(descriptor.id) })
  }

  // publicKeyOf accepts {"publicKey":{...}}, its JSON text, or the
  // {"credentialOptions":{...}} wrapper of passkey sign-up, and returns
  // the publicKey options with their binary fields decoded.
  function publicKeyOf(options) {
    if (typeof options === "string") {
      options = JSON.parse(options)
    }
    if (options && options.credentialOptions) {
      options = options.credentialOptions
    }
    var pk = Object.assign({}, options.publicKey)
    pk.challenge = toBytes(pk.challenge)
    if (pk.user && pk.user.id) {
      pk.user = Object.assign({}, pk.user, { id: toBytes(pk.user.id) })
    }
    if (pk.allowCredentials) {
      pk.allowCredentials = pk.allowCredentials.map(withBytesID)
    }
    if (pk.excludeCredentials) {
      pk.excludeCredentials = pk.excludeCredentials.map(withBytesID)
    }
    return pk
  }

  // answerOf is the JSON the server parses: an attestation (sign-up) or an
  // assertion (sign-in), every binary field base64url without padding.
  function answerOf(credential) {
    var r = credential.response
    var answer = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: { clientDataJSON: toBase64url(r.clientDataJSON) },
    }
    if (r.attestationObject) {
      answer.response.attestationObject = toBase64url(r.attestationObject)
      if (typeof r.getTransports === "function") {
        answer.response.transports = r.getTransports()
      }
    } else {
      answer.response.authenticatorData = toBase64url(r.authenticatorData)
      answer.response.signature = toBase64url(r.signature)
      answer.response.userHandle = toBase64url(r.userHandle)
    }
    return JSON.stringify(answer)
  }

  function field(name) {
    return document.getElementsByName(name)[0]
  }

  // submit writes the answer and submits the field's form, naming the
  // method: form.submit() sends no submit button, so the method goes in a
  // hidden field.
  function submit(resultField, credential, method) {
    resultField.value = answerOf(credential)
    var form = resultField.form || resultField.closest("form")
    if (!form) {
      console.error("webauthn.js: the " + resultField.name + " field is not in a form")
      return
    }
    var methodField = form.querySelector('input[type="hidden"][name="method"]')
    if (!methodField) {
      methodField = document.createElement("input")
      methodField.type = "hidden"
      methodField.name = "method"
      form.appendChild(methodField)
    }
    methodField.value = method
    form.submit()
  }

  function supported() {
    if (!window.PublicKeyCredential || !navigator.credentials) {
      console.error("webauthn.js: this browser does not support WebAuthn")
      return false
    }
    return true
  }

  function fail(err) {
    console.error(err)
    // Cancelling is the user's choice, not something to alert about.
    if (!err || (err.name !== "NotAllowedError" && err.name !== "AbortError")) {
      window.alert(err)
    }
  }

  // Security keys: securityKey(ask, name) runs navigator.credentials[ask]
  // ("get" to sign in, "create" for a new key) and answers in field name.
  // The options come as the argument (legacy onclick) or from the value of
  // the trigger button, name + "_trigger".
  function securityKey(ask, name) {
    return function (options) {
      var trigger = field(name + "_trigger")
      var result = field(name)
      if (!supported() || !result) {
        return
      }
      navigator.credentials[ask]({ publicKey: publicKeyOf(options || (trigger && trigger.value)) })
        .then(function (credential) {
          submit(result, credential, "webauthn")
        })
        .catch(fail)
    }
  }

  var webAuthnLogin = securityKey("get", "webauthn_login")
  var webAuthnRegistration = securityKey("create", "webauthn_register")

  // Passkeys. Only one navigator.credentials.get may run at a time, so a
  // click aborts the autofill request and re-arms it if it fails.
  var autofill = null

  function passkeyLogin() {
    var challenge = field("passkey_challenge")
    var result = field("passkey_login")
    if (!supported() || !challenge || !result) {
      return
    }
    if (autofill) {
      autofill.abort()
      autofill = null
    }
    navigator.credentials
      .get({ publicKey: publicKeyOf(challenge.value) })
      .then(function (credential) {
        submit(result, credential, "passkey")
      })
      .catch(function (err) {
        console.error(err)
        passkeyLoginAutocompleteInit()
      })
  }

  function passkeyLoginAutocompleteInit() {
    var challenge = field("passkey_challenge")
    var result = field("passkey_login")
    if (!challenge || !result || !field("identifier")) {
      return Promise.resolve()
    }
    var pkc = window.PublicKeyCredential
    if (!pkc || typeof pkc.isConditionalMediationAvailable !== "function") {
      return Promise.resolve()
    }
    return pkc.isConditionalMediationAvailable().then(function (available) {
      if (!available) {
        return
      }
      autofill = new AbortController()
      return navigator.credentials
        .get({ publicKey: publicKeyOf(challenge.value), mediation: "conditional", signal: autofill.signal })
        .then(function (credential) {
          submit(result, credential, "passkey")
        })
        .catch(function (err) {
          if (!err || err.name !== "AbortError") {
            console.error(err)
          }
        })
    })
  }

  // createWithPasskey runs a passkey sign-up or settings registration. At
  // sign-up the user's name is the trait named by displayNameFieldName, as
  // typed into the form.
  function createWithPasskey(resultName) {
    var data = field("passkey_create_data")
    var result = field(resultName)
    if (!supported() || !data || !result) {
      return
    }
    var options = JSON.parse(data.value)
    var publicKey = publicKeyOf(options)
    var nameField = options.displayNameFieldName && field(options.displayNameFieldName)
    if (nameField && nameField.value && publicKey.user) {
      publicKey.user.name = nameField.value
      publicKey.user.displayName = nameField.value
    }
    navigator.credentials
      .create({ publicKey: publicKey })
      .then(function (credential) {
        submit(result, credential, "passkey")
      })
      .catch(function (err) {
        console.error(err)
      })
  }

  function passkeyRegistration() {
    createWithPasskey("passkey_register")
  }

  function passkeySettingsRegistration() {
    createWithPasskey("passkey_settings_register")
  }

  var exported = {
    oryWebAuthnLogin: webAuthnLogin,
    oryWebAuthnRegistration: webAuthnRegistration,
    oryPasskeyLogin: passkeyLogin,
    oryPasskeyLoginAutocompleteInit: passkeyLoginAutocompleteInit,
    oryPasskeyRegistration: passkeyRegistration,
    oryPasskeySettingsRegistration: passkeySettingsRegistration,
  }
  Object.keys(exported).forEach(function (name) {
    window[name] = exported[name]
    window["__" + name] = exported[name]
  })

  window.__oryWebAuthnInitialized = true
  window.dispatchEvent(new Event("oryWebAuthnInitialized"))
})()
