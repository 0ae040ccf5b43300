/* Aisle support chat widget. Plain JS, no dependencies.
 *
 * Every piece of text from the server (the shopper's own words, the assistant's and staff replies,
 * citation titles) is inserted with textContent or createTextNode, never innerHTML: a reply is data, not
 * markup, whatever a model or a person typed into it.
 */
(function () {
  "use strict";

  var root = document.querySelector("[data-chat-widget]");
  if (!root || root.dataset.ready) return;
  root.dataset.ready = "1";

  var API = root.dataset.api; // ".../api/chat/conversations/"
  var CSRF = root.dataset.csrf || "";
  var STORAGE_KEY = "aisle-chat-conversation";
  var POLL_MS = 5000;

  var launcher = root.querySelector("[data-chat-launcher]");
  var panel = root.querySelector("[data-chat-panel]");
  var log = root.querySelector("[data-chat-log]");
  var form = root.querySelector("[data-chat-form]");
  var input = root.querySelector("[data-chat-input]");
  var typing = root.querySelector("[data-chat-typing]");
  var quick = root.querySelector("[data-chat-quick]");
  var errorBox = root.querySelector("[data-chat-error]");
  var statusBox = root.querySelector("[data-chat-status]");
  var closeButton = root.querySelector("[data-chat-close]");
  var personButton = root.querySelector("[data-chat-person]");

  var conversationId = null;
  var lastMessageId = 0;
  var busy = false;
  var pollTimer = null;
  var storage = (function () {
    try { window.localStorage.setItem("aisle-probe", "1"); window.localStorage.removeItem("aisle-probe"); return window.localStorage; }
    catch (e) { return null; } // private mode: the conversation lasts for this page only
  })();

  function headers(withBody, streamed) {
    // Errors always come back as JSON, also from the streaming endpoint, so JSON is always acceptable.
    var h = { "X-CSRFToken": CSRF, "Accept": streamed ? "text/event-stream, application/json" : "application/json" };
    if (withBody) h["Content-Type"] = "application/json";
    return h;
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  function setStatus(conversationStatus) {
    var handedOff = conversationStatus === "handed_off";
    statusBox.hidden = !handedOff;
    statusBox.textContent = handedOff ? "You're talking to our support team. A person will reply here." : "";
    personButton.disabled = handedOff;
    if (handedOff && !pollTimer && !panel.hidden) pollTimer = window.setInterval(poll, POLL_MS);
  }

  function safeHref(url) {
    // Only same-site paths become links: no javascript:, data: or other schemes.
    return typeof url === "string" && /^\/(?!\/)/.test(url) ? url : null;
  }

  function renderQuickReplies(options) {
    quick.textContent = "";
    (options || []).slice(0, 5).forEach(function (label) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "chat-quick-reply";
      b.textContent = label;
      b.addEventListener("click", function () {
        if (label === "Talk to a person") requestPerson(); else send(label);
      });
      quick.appendChild(b);
    });
  }

  function feedbackButtons(message) {
    var wrap = document.createElement("div");
    wrap.className = "chat-feedback";
    wrap.setAttribute("role", "group");
    wrap.setAttribute("aria-label", "Was this answer helpful?");
    [["up", "👍", "Helpful"], ["down", "👎", "Not helpful"]].forEach(function (spec) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "chat-thumb";
      b.dataset.value = spec[0];
      b.setAttribute("aria-label", spec[2]);
      b.setAttribute("aria-pressed", String(message.feedback === (spec[0] === "up" ? 1 : -1)));
      b.textContent = spec[1];
      b.addEventListener("click", function () {
        var pressed = b.getAttribute("aria-pressed") === "true";
        var value = pressed ? "none" : spec[0];
        fetch(API + conversationId + "/messages/" + message.id + "/feedback/", {
          method: "POST", credentials: "same-origin", headers: headers(true), body: JSON.stringify({ value: value })
        }).then(function (r) {
          if (!r.ok) return;
          wrap.querySelectorAll("button").forEach(function (other) {
            other.setAttribute("aria-pressed", String(!pressed && other === b));
          });
        });
      });
      wrap.appendChild(b);
    });
    return wrap;
  }

  function fillMessage(item, message) {
    var body = item.querySelector(".chat-text");
    body.textContent = message.text;
    var old = item.querySelector(".chat-extras");
    if (old) old.remove();
    var extras = document.createElement("div");
    extras.className = "chat-extras";
    (message.citations || []).forEach(function (citation) {
      var href = safeHref(citation.url);
      if (!href) return;
      var a = document.createElement("a");
      a.className = "chat-citation";
      a.href = href;
      a.textContent = "Source: " + citation.title;
      extras.appendChild(a);
    });
    if (message.role === "assistant" && message.id) extras.appendChild(feedbackButtons(message));
    item.appendChild(extras);
    if (message.id) {
      item.dataset.id = message.id;
      lastMessageId = Math.max(lastMessageId, message.id);
    }
  }

  function addMessage(message) {
    if (message.id && log.querySelector('[data-id="' + message.id + '"]')) return null;
    var item = document.createElement("li");
    item.className = "chat-message chat-" + message.role;
    var who = document.createElement("span");
    who.className = "sr-only";
    who.textContent = { user: "You: ", assistant: "Assistant: ", staff: "Support team: " }[message.role] || "";
    var body = document.createElement("p");
    body.className = "chat-text";
    item.appendChild(who);
    item.appendChild(body);
    log.appendChild(item);
    fillMessage(item, message);
    log.scrollTop = log.scrollHeight;
    return item;
  }

  function showConversation(data) {
    conversationId = data.id;
    if (storage) storage.setItem(STORAGE_KEY, data.id);
    data.messages.forEach(addMessage);
    var last = data.messages[data.messages.length - 1];
    renderQuickReplies(last && last.role === "assistant" ? last.quick_replies : []);
    setStatus(data.status);
  }

  function start() {
    var saved = storage && storage.getItem(STORAGE_KEY);
    if (saved) {
      return fetch(API + encodeURIComponent(saved) + "/", { credentials: "same-origin", headers: headers() })
        .then(function (r) {
          if (r.ok) return r.json().then(showConversation);
          storage.removeItem(STORAGE_KEY); // signed in or out since, or expired: start afresh
          return create();
        });
    }
    return create();
  }

  function create() {
    return fetch(API, { method: "POST", credentials: "same-origin", headers: headers(true), body: "{}" })
      .then(function (r) { return r.ok ? r.json().then(showConversation) : errorFrom(r); });
  }

  function errorFrom(response) {
    return response.json().then(function (body) {
      showError((body && body.error && body.error.message) || "Something went wrong. Please try again.");
    }, function () { showError("Something went wrong. Please try again."); });
  }

  function poll() {
    if (!conversationId || panel.hidden) return;
    fetch(API + conversationId + "/?after=" + lastMessageId, { credentials: "same-origin", headers: headers() })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        data.messages.forEach(addMessage);
        setStatus(data.status);
      });
  }

  function parseEvents(buffer, onEvent) {
    // Server-sent events: blocks separated by a blank line, each with "event:" and one "data:" JSON line.
    var blocks = buffer.split("\n\n");
    var rest = blocks.pop();
    blocks.forEach(function (block) {
      var name = "message", data = "";
      block.split("\n").forEach(function (line) {
        if (line.indexOf("event: ") === 0) name = line.slice(7);
        else if (line.indexOf("data: ") === 0) data += line.slice(6);
      });
      if (data) onEvent(name, JSON.parse(data));
    });
    return rest;
  }

  function streamReply(text) {
    var item = null;
    return fetch(API + conversationId + "/stream/", {
      method: "POST", credentials: "same-origin", headers: headers(true, true), body: JSON.stringify({ text: text })
    }).then(function (response) {
      if (!response.ok) return errorFrom(response);
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function onEvent(name, payload) {
        if (name === "user") {
          addMessage(payload.message);
          setStatus(payload.conversation_status);
        } else if (name === "token") {
          if (!item) {
            typing.hidden = true;
            item = addMessage({ role: "assistant", text: "", citations: [] });
            item.setAttribute("aria-busy", "true");
          }
          var body = item.querySelector(".chat-text");
          body.textContent = body.textContent + payload.text;
          log.scrollTop = log.scrollHeight;
        } else if (name === "done") {
          typing.hidden = true;
          if (payload.reply) {
            if (!item) item = addMessage({ role: "assistant", text: "", citations: [] });
            item.removeAttribute("aria-busy");
            fillMessage(item, payload.reply); // the stored text may replace what streamed
            renderQuickReplies(payload.reply.quick_replies);
          }
          setStatus(payload.conversation_status);
        }
      }
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) return;
          buffer = parseEvents(buffer + decoder.decode(chunk.value, { stream: true }), onEvent);
          return pump();
        });
      }
      return pump();
    });
  }

  function send(text) {
    text = (text || "").trim();
    if (!text || busy || !conversationId) return;
    busy = true;
    showError("");
    renderQuickReplies([]);
    typing.hidden = false;
    input.value = "";
    streamReply(text)
      .catch(function () { showError("The connection dropped. Please try again."); })
      .then(function () {
        busy = false;
        typing.hidden = true;
        input.focus();
      });
  }

  function requestPerson() {
    if (!conversationId) return;
    fetch(API + conversationId + "/handoff/", { method: "POST", credentials: "same-origin", headers: headers(true), body: "{}" })
      .then(function (r) {
        if (!r.ok) return errorFrom(r);
        return r.json().then(function (data) {
          data.messages.forEach(addMessage);
          renderQuickReplies([]);
          setStatus(data.status);
        });
      });
  }

  function open() {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    // Reopened: catch up on anything (a staff reply) that arrived while the panel was closed.
    var ready = conversationId ? Promise.resolve(poll()) : start();
    ready.then(function () { input.focus(); });
    if (storage) storage.setItem(STORAGE_KEY + "-open", "1");
  }

  function close() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    if (pollTimer) { window.clearInterval(pollTimer); pollTimer = null; }
    if (storage) storage.removeItem(STORAGE_KEY + "-open");
    launcher.focus();
  }

  launcher.addEventListener("click", function () { if (panel.hidden) open(); else close(); });
  closeButton.addEventListener("click", close);
  personButton.addEventListener("click", requestPerson);
  root.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !panel.hidden) { event.preventDefault(); close(); }
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); send(input.value); });
  input.addEventListener("keydown", function (event) {
    // Enter sends; Shift+Enter starts a new line.
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); send(input.value); }
  });

  // Reopen after a page load if the shopper left the panel open.
  if (storage && storage.getItem(STORAGE_KEY + "-open")) open();
})();
