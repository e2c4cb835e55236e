// Kaiser Kitchen Rewards: translations, store links for the visitor's device, the deep link
// into the app, and the invite code. No framework and no build step: the HTML is complete in
// English without this script; the script only translates, reorders and fills links.
(function () {
  'use strict';

  // Referral codes are 8 characters of the coupon alphabet (no 0/O, 1/I/L, U): anything else
  // is refused before it reaches the page or the deep link.
  var CODE = /^[23456789ABCDEFGHJKMNPQRSTVWXYZ]{8}$/;
  var STORAGE_KEY = 'kk-lang';

  function device() {
    var ua = navigator.userAgent || '';
    // iPadOS asks for the desktop site with a Mac user agent; only touch tells them apart.
    if (/iPhone|iPad|iPod/.test(ua) || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1)) {
      return 'ios';
    }
    if (/Android/.test(ua)) {
      return 'android';
    }
    return 'other';
  }

  function getJSON(url) {
    return fetch(url, { credentials: 'same-origin' }).then(function (r) {
      if (!r.ok) {
        throw new Error(url + ': HTTP ' + r.status);
      }
      return r.json();
    });
  }

  // inviteCode returns the code of /invite/?code=..., upper-cased, or '' when it is absent
  // or not a code.
  function inviteCode() {
    var raw = new URLSearchParams(location.search).get('code') || '';
    raw = raw.trim().toUpperCase();
    return CODE.test(raw) ? raw : '';
  }

  // deepLink opens the app at path (with query); on Android an intent: URL falls back to
  // Google Play when the app is not installed.
  function deepLink(cfg, dev, path, query) {
    var q = query ? '?' + query : '';
    if (dev === 'android' && cfg.androidPackage) {
      return 'intent://' + path + q + '#Intent;scheme=' + cfg.deepLinkScheme +
        ';package=' + cfg.androidPackage +
        ';S.browser_fallback_url=' + encodeURIComponent(cfg.playStoreUrl) + ';end';
    }
    return cfg.deepLinkScheme + '://' + path + q;
  }

  function setupApps(cfg, dev, code) {
    var list = document.getElementById('stores');
    if (!list) {
      return;
    }
    var ios = list.querySelector('[data-store="ios"]');
    var android = list.querySelector('[data-store="android"]');
    ios.href = cfg.appStoreUrl;
    android.href = cfg.playStoreUrl;
    // The visitor's own store first; on any other device both, App Store first.
    if (dev === 'android') {
      list.insertBefore(android.parentNode, ios.parentNode);
    }
    if (dev !== 'other') {
      (dev === 'ios' ? ios : android).classList.add('primary');
    }
    document.body.setAttribute('data-device', dev);
    var open = document.getElementById('open-app');
    if (open) {
      var page = document.body.getAttribute('data-page');
      open.href = page === 'invite'
        ? deepLink(cfg, dev, 'invite', code ? 'code=' + encodeURIComponent(code) : '')
        : deepLink(cfg, dev, 'home', '');
    }
  }

  function setupInvite(code) {
    if (document.body.getAttribute('data-page') !== 'invite') {
      return;
    }
    if (code) {
      // textContent, never innerHTML: the code is shown as text whatever it holds.
      document.getElementById('invite-code').textContent = code;
      document.getElementById('invite-valid').hidden = false;
    } else {
      document.getElementById('invite-invalid').hidden = false;
    }
  }

  // chooseLanguage: ?lang=, then the visitor's earlier choice, then the browser's languages
  // (exact tag, then its primary subtag), then the first language of the list.
  function chooseLanguage(codes) {
    var wanted = [];
    var param = new URLSearchParams(location.search).get('lang');
    if (param) {
      wanted.push(param);
    }
    try {
      var saved = localStorage.getItem(STORAGE_KEY);
      if (saved) {
        wanted.push(saved);
      }
    } catch (e) { /* storage blocked: the browser's languages decide */ }
    wanted = wanted.concat(navigator.languages || [navigator.language || '']);
    for (var i = 0; i < wanted.length; i++) {
      // A header-style entry ("vi;q=0.5") counts by its tag.
      var tag = String(wanted[i]).split(';')[0].trim().toLowerCase();
      if (codes.indexOf(tag) >= 0) {
        return tag;
      }
      var primary = tag.split('-')[0];
      if (codes.indexOf(primary) >= 0) {
        return primary;
      }
    }
    return codes[0];
  }

  // translate puts dict's strings into every element that names a key. A key missing from
  // the file is a console error (the browser tests fail on it) and keeps the English text.
  function translate(lang, dict) {
    document.documentElement.lang = lang;
    var els = document.querySelectorAll('[data-i18n]');
    for (var i = 0; i < els.length; i++) {
      var key = els[i].getAttribute('data-i18n');
      if (typeof dict[key] === 'string') {
        els[i].textContent = dict[key];
      } else {
        console.error('missing translation', lang, key);
      }
    }
    var attrs = document.querySelectorAll('[data-i18n-attr]');
    for (var j = 0; j < attrs.length; j++) {
      var pairs = attrs[j].getAttribute('data-i18n-attr').split(';');
      for (var k = 0; k < pairs.length; k++) {
        var p = pairs[k].split(':');
        if (typeof dict[p[1]] === 'string') {
          attrs[j].setAttribute(p[0], dict[p[1]]);
        } else {
          console.error('missing translation', lang, p[1]);
        }
      }
    }
    document.body.setAttribute('data-lang', lang);
  }

  function setupLanguages(index) {
    var codes = index.languages.map(function (l) { return l.code; });
    var select = document.getElementById('lang-select');
    select.textContent = '';
    index.languages.forEach(function (l) {
      var opt = document.createElement('option');
      opt.value = l.code;
      opt.lang = l.code;
      opt.textContent = l.name;
      select.appendChild(opt);
    });
    function use(lang) {
      select.value = lang;
      return getJSON('/i18n/' + encodeURIComponent(lang) + '.json').then(function (dict) {
        translate(lang, dict);
      });
    }
    select.addEventListener('change', function () {
      try {
        localStorage.setItem(STORAGE_KEY, select.value);
      } catch (e) { /* the choice lasts for this page only */ }
      use(select.value).catch(report);
    });
    return use(chooseLanguage(codes));
  }

  function report(err) {
    console.error(err && err.message ? err.message : String(err));
  }

  function start() {
    var dev = device();
    var code = inviteCode();
    setupInvite(code);
    var apps = getJSON('/app-config.json').then(function (cfg) { setupApps(cfg, dev, code); });
    var langs = getJSON('/i18n/languages.json').then(setupLanguages);
    // data-ready tells the browser tests (and nothing else) that the page settled.
    Promise.all([apps, langs]).then(function () {
      document.body.setAttribute('data-ready', 'true');
    }, function (err) {
      report(err);
      document.body.setAttribute('data-ready', 'error');
    });
  }

  start();
}());
