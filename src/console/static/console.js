// moderato console: keyboard shortcuts, lease countdowns, lease extension while visible, release on close.
// Plain script, no library.
(function () {
  'use strict';
  function fmt(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var r = s % 60;
    return Math.floor(s / 60) + ':' + (r < 10 ? '0' : '') + r;
  }
  var timed = [].slice.call(document.querySelectorAll('[data-remaining-ms]'));
  timed.forEach(function (el) { el.dataset.until = String(Date.now() + Number(el.dataset.remainingMs)); });
  function tick() {
    timed.forEach(function (el) {
      var left = Number(el.dataset.until) - Date.now();
      if (el.classList.contains('lease')) {
        el.textContent = '⏱ ' + (left > 0 ? fmt(left) : el.dataset.expired);
        el.classList.toggle('low', left < 60000);
      } else if (left <= 0) {
        el.hidden = true;
      }
    });
  }
  tick();
  setInterval(tick, 1000);

  var leaving = false;
  document.addEventListener('submit', function () { leaving = true; }, true);

  var queue = document.getElementById('queue');
  if (queue) {
    var site = queue.dataset.site, csrf = queue.dataset.csrf;
    var form = function () {
      var p = new URLSearchParams();
      p.set('csrf', csrf);
      p.set('site', site);
      return p;
    };
    var extend = function () {
      if (document.visibilityState !== 'visible') return;
      fetch('/console/queue/extend', { method: 'POST', body: form(), credentials: 'same-origin' })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (m) {
          if (!m) return;
          timed.forEach(function (el) {
            var id = el.dataset.item;
            if (id) el.dataset.until = String(id in m ? Date.now() + m[id] : 0);
          });
          tick();
        })
        .catch(function () {});
    };
    setInterval(extend, 60000);
    document.addEventListener('visibilitychange', extend);
    // Closing the page (not submitting one of its forms) gives its comments back to the queue at once.
    window.addEventListener('pagehide', function () {
      if (!leaving) navigator.sendBeacon('/console/queue/release', form());
    });
  }

  var items = [].slice.call(document.querySelectorAll('.item'));
  var cur = 0;
  var toggle = document.getElementById('shortcuts');
  if (toggle) {
    try { toggle.checked = localStorage.getItem('moderato.shortcuts') !== 'off'; } catch (e) {}
    toggle.addEventListener('change', function () {
      try { localStorage.setItem('moderato.shortcuts', toggle.checked ? 'on' : 'off'); } catch (e) {}
    });
  }
  function focusItem(i) {
    if (!items.length) return;
    cur = Math.max(0, Math.min(items.length - 1, i));
    items.forEach(function (el, j) { el.classList.toggle('current', j === cur); });
    items[cur].focus({ preventScroll: true });
    items[cur].scrollIntoView({ block: 'nearest' });
  }
  if (items.length) focusItem(0);
  var help = document.getElementById('help');
  function toggleHelp() {
    if (!help) return;
    if (help.open) help.close(); else help.showModal();
  }
  var hb = document.getElementById('help-button');
  if (hb) hb.addEventListener('click', toggleHelp);
  // How many comments a bulk decision would take, next to its buttons.
  var bulkCount = document.getElementById('bulk-count');
  function countSelected() {
    if (!bulkCount) return;
    var n = document.querySelectorAll('.sel:checked').length;
    bulkCount.textContent = bulkCount.dataset.template.replace('{n}', n);
  }
  document.querySelectorAll('.sel').forEach(function (c) { c.addEventListener('change', countSelected); });
  function send(sel) {
    var it = items[cur];
    var f = it && it.querySelector('form.' + sel);
    if (f) f.requestSubmit();
  }
  // A rejection needs its label chosen: r on an item without one lands on its label box (the browser says why);
  // arrows choose, Enter rejects.
  document.addEventListener('keydown', function (e) {
    var t = e.target;
    if (e.key !== 'Enter' || e.ctrlKey || e.altKey || e.metaKey || e.isComposing) return;
    if (t.tagName && t.tagName.toLowerCase() === 'select' && t.classList.contains('label') && t.form && t.value) {
      e.preventDefault();
      t.form.requestSubmit();
    }
  });
  document.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.altKey || e.metaKey || e.isComposing) return;
    if (!toggle || !toggle.checked) return;
    var t = e.target, tag = (t.tagName || '').toLowerCase();
    if (tag === 'textarea' || tag === 'select' || (tag === 'input' && t.type !== 'checkbox') || t.isContentEditable) return;
    if (e.key === '?') { toggleHelp(); e.preventDefault(); return; }
    if (help && help.open) return;
    switch (e.key) {
      case 'j': focusItem(cur + 1); break;
      case 'k': focusItem(cur - 1); break;
      case 'a': send('approve'); break;
      case 'r': send('reject'); break;
      case 's': send('skip'); break;
      case 'x':
        var c = items[cur] && items[cur].querySelector('.sel');
        if (c) c.checked = !c.checked;
        countSelected();
        break;
      case 'u':
        var u = document.getElementById('undo-form');
        if (u && !u.hidden) u.requestSubmit();
        break;
      default: return;
    }
    e.preventDefault();
  });
})();
