// Lanyard's built-in UI: binds the WebAuthn and passkey buttons to the
// functions webauthn.js defines, without inline handlers (the pages'
// Content-Security-Policy forbids them). Everything else works without it.
;(function () {
  "use strict"

  function call(name) {
    var fn = window[name]
    if (typeof fn === "function") {
      fn()
    } else {
      console.error("ui.js: " + name + " is not loaded yet")
    }
  }

  function bind() {
    document.querySelectorAll("[data-trigger]").forEach(function (el) {
      el.addEventListener("click", function (event) {
        event.preventDefault()
        call(el.getAttribute("data-trigger"))
      })
    })
    var onload = document.querySelectorAll("[data-load-trigger]")
    if (!onload.length) {
      return
    }
    var ran = false
    function runOnload() {
      if (ran) {
        return
      }
      ran = true
      onload.forEach(function (el) {
        call(el.getAttribute("data-load-trigger"))
      })
    }
    if (window.__oryWebAuthnInitialized) {
      runOnload()
    } else {
      window.addEventListener("oryWebAuthnInitialized", runOnload)
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", bind)
  } else {
    bind()
  }
})()
