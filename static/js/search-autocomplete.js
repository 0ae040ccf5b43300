/* Search autocomplete: turns the header's search input into an ARIA 1.2 combobox with a listbox popup.
 *
 * Markup it needs: <input type="search" data-search-autocomplete="/api/search/autocomplete/"> inside a form
 * (falls back to #site-search and that URL). Without JavaScript the plain search form still works.
 * Keyboard: ArrowDown/ArrowUp move through the suggestions, Enter picks one, Escape closes the list (a
 * second Escape clears the input), Tab leaves. Screen readers hear the number of suggestions via a live
 * region. Requests are debounced, cached per text, and stale answers are ignored. No dependencies. */
(function () {
  "use strict";

  var DEBOUNCE_MS = 150;
  var MIN_CHARS = 2;
  var KIND_LABELS = { query: "Search", brand: "Brand", product: "Product" };

  function injectStyles() {
    if (document.getElementById("search-autocomplete-styles")) return;
    var style = document.createElement("style");
    style.id = "search-autocomplete-styles";
    // Built from the design tokens in aisle.css, so the popup matches the rest of the shop.
    style.textContent =
      ".ac-wrap{position:relative;flex:1;min-width:0;display:flex}" +
      ".ac-wrap input{flex:1;min-width:0}" +
      ".ac-list{position:absolute;top:100%;left:0;right:0;z-index:60;margin:var(--space-1,4px) 0 0;padding:var(--space-1,4px) 0;" +
      "list-style:none;background:var(--color-bg,#fff);border:1px solid var(--color-border,#ccc);" +
      "border-radius:var(--radius,6px);box-shadow:var(--shadow,0 4px 12px rgba(0,0,0,.12));max-height:22rem;overflow-y:auto}" +
      ".ac-list[hidden]{display:none}" +
      ".ac-option{display:flex;gap:var(--space-2,8px);align-items:baseline;padding:var(--space-2,8px) var(--space-3,12px);cursor:pointer}" +
      ".ac-option[aria-selected=true]{background:var(--color-brand-soft,#e8f0fe);color:var(--color-brand-strong,#123)}" +
      ".ac-kind{font-size:var(--text-xs,.75rem);color:var(--color-muted,#555);min-width:4.5rem}";
    document.head.appendChild(style);
  }

  function Combobox(input, endpoint) {
    this.input = input;
    this.endpoint = endpoint;
    this.form = input.form;
    this.items = [];
    this.active = -1;
    this.cache = {};
    this.timer = null;
    this.latest = "";
    this.build();
    this.bind();
  }

  Combobox.prototype.build = function () {
    var id = this.input.id || "site-search";
    this.input.id = id;
    var wrap = document.createElement("div");
    wrap.className = "ac-wrap";
    this.input.parentNode.insertBefore(wrap, this.input);
    wrap.appendChild(this.input);

    this.list = document.createElement("ul");
    this.list.id = id + "-listbox";
    this.list.className = "ac-list";
    this.list.setAttribute("role", "listbox");
    this.list.setAttribute("aria-label", "Search suggestions");
    this.list.hidden = true;
    wrap.appendChild(this.list);

    this.status = document.createElement("div");
    this.status.className = "sr-only";
    this.status.setAttribute("role", "status");
    this.status.setAttribute("aria-live", "polite");
    wrap.appendChild(this.status);

    this.input.setAttribute("role", "combobox");
    this.input.setAttribute("aria-autocomplete", "list");
    this.input.setAttribute("aria-expanded", "false");
    this.input.setAttribute("aria-controls", this.list.id);
    this.input.setAttribute("autocomplete", "off");
  };

  Combobox.prototype.bind = function () {
    var self = this;
    this.input.addEventListener("input", function () { self.schedule(); });
    this.input.addEventListener("keydown", function (event) { self.onKey(event); });
    this.input.addEventListener("blur", function () {
      // Let a click on an option land before the list goes away.
      setTimeout(function () { self.close(); }, 120);
    });
    // mousedown, not click: it fires before the input's blur.
    this.list.addEventListener("mousedown", function (event) {
      var option = event.target.closest("[role=option]");
      if (!option) return;
      event.preventDefault();
      self.choose(Number(option.getAttribute("data-index")));
    });
  };

  Combobox.prototype.schedule = function () {
    var self = this;
    clearTimeout(this.timer);
    var text = this.input.value;
    if (text.trim().length < MIN_CHARS) {
      this.close();
      return;
    }
    this.timer = setTimeout(function () { self.fetch(text); }, DEBOUNCE_MS);
  };

  Combobox.prototype.fetch = function (text) {
    var self = this;
    this.latest = text;
    if (this.cache.hasOwnProperty(text)) {
      this.render(this.cache[text]);
      return;
    }
    var url = this.endpoint + (this.endpoint.indexOf("?") === -1 ? "?" : "&") + "q=" + encodeURIComponent(text);
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : { suggestions: [] }; })
      .then(function (data) {
        self.cache[text] = data.suggestions || [];
        // An answer to an older keystroke must not replace the current one.
        if (text === self.latest && self.input.value === text) self.render(self.cache[text]);
      })
      .catch(function () { self.close(); });
  };

  Combobox.prototype.render = function (items) {
    this.items = items;
    this.active = -1;
    this.input.removeAttribute("aria-activedescendant");
    this.list.textContent = "";
    if (!items.length) {
      this.close();
      this.status.textContent = "No suggestions.";
      return;
    }
    var self = this;
    items.forEach(function (item, index) {
      var option = document.createElement("li");
      option.id = self.list.id + "-option-" + index;
      option.className = "ac-option";
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      option.setAttribute("data-index", String(index));
      var kind = document.createElement("span");
      kind.className = "ac-kind";
      kind.textContent = KIND_LABELS[item.kind] || "";
      var label = document.createElement("span");
      label.textContent = item.label;  // textContent: a product title can never inject markup
      option.appendChild(kind);
      option.appendChild(label);
      self.list.appendChild(option);
    });
    this.list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    this.status.textContent = items.length + (items.length === 1 ? " suggestion" : " suggestions") +
      ". Use up and down arrows to choose.";
  };

  Combobox.prototype.move = function (step) {
    if (this.list.hidden || !this.items.length) return;
    var options = this.list.children;
    if (this.active >= 0) options[this.active].setAttribute("aria-selected", "false");
    this.active = (this.active + step + this.items.length + 1) % (this.items.length + 1);
    if (this.active === this.items.length) {
      // Past either end: back to what was typed, as native comboboxes do.
      this.active = -1;
      this.input.removeAttribute("aria-activedescendant");
      return;
    }
    var option = options[this.active];
    option.setAttribute("aria-selected", "true");
    this.input.setAttribute("aria-activedescendant", option.id);
    option.scrollIntoView({ block: "nearest" });
  };

  Combobox.prototype.onKey = function (event) {
    var open = !this.list.hidden;
    if (event.key === "ArrowDown") {
      event.preventDefault();
      if (!open && this.input.value.trim().length >= MIN_CHARS) this.fetch(this.input.value);
      else this.move(1);
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      this.move(-1);
    } else if (event.key === "Enter" && open && this.active >= 0) {
      event.preventDefault();
      this.choose(this.active);
    } else if (event.key === "Escape") {
      if (open) {
        event.preventDefault();
        this.close();
      } else if (this.input.value) {
        event.preventDefault();
        this.input.value = "";
      }
    }
  };

  Combobox.prototype.choose = function (index) {
    var item = this.items[index];
    if (!item) return;
    this.close();
    if (item.kind === "product" && item.url) {
      window.location.assign(item.url);
      return;
    }
    this.input.value = item.query || item.label;
    if (this.form) {
      if (this.form.requestSubmit) this.form.requestSubmit();
      else this.form.submit();
    }
  };

  Combobox.prototype.close = function () {
    this.list.hidden = true;
    this.active = -1;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  };

  function init() {
    var inputs = document.querySelectorAll("input[data-search-autocomplete]");
    if (!inputs.length) {
      var fallback = document.getElementById("site-search");
      inputs = fallback ? [fallback] : [];
    }
    if (!inputs.length) return;
    injectStyles();
    Array.prototype.forEach.call(inputs, function (input) {
      if (input.getAttribute("role") === "combobox") return;
      new Combobox(input, input.getAttribute("data-search-autocomplete") || "/api/search/autocomplete/");
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
