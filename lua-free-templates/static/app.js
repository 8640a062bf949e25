// The captcha: 换一张 (or a click on the picture) draws a new one.  No
// inline scripts: the pages' CSP forbids them.
document.addEventListener('DOMContentLoaded', function () {
  var img = document.getElementById('captcha-image');
  var again = document.getElementById('captcha-refresh');
  var renew = function () {
    img.src = '/captcha?' + Date.now();
    var box = document.getElementById('captcha');
    if (box) { box.value = ''; box.focus(); }
  };
  if (img) { img.addEventListener('click', renew); }
  if (again && img) { again.addEventListener('click', renew); }
});

// 新增用户: the 用户类型 decides the picker (a bureau by its region, the
// others by the org, looked up as typed among those in the actor's scope).
document.addEventListener('DOMContentLoaded', function () {
  var kind = document.getElementById('kind');
  var form = document.getElementById('user-form');
  if (!kind || !form) { return; }
  var bureau = form.querySelector('.pick-bureau');
  var org = form.querySelector('.pick-org');
  var show = function () {
    var isBureau = /bureau$/.test(kind.value);
    bureau.hidden = !isBureau;
    org.hidden = isBureau;
  };
  kind.addEventListener('change', show);
  show();

  var input = document.getElementById('org_code');
  var list = document.getElementById('org-options');
  var timer = null;
  input.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var q = input.value.trim();
      if (q.length < 1) { return; }
      fetch('/api/orgs?per_page=20&kind=' + encodeURIComponent(kind.value) +
            '&q=' + encodeURIComponent(q), { credentials: 'same-origin' })
        .then(function (r) { return r.ok ? r.json() : { items: [] }; })
        .then(function (j) {
          list.textContent = '';
          (j.items || []).forEach(function (o) {
            var opt = document.createElement('option');
            opt.value = o.code;
            opt.label = o.name + '（' + o.region_name + '）';
            opt.textContent = o.name;
            list.appendChild(opt);
          });
        }).catch(function () {});
    }, 250);
  });
});

// Every page: the menu folds under its button on small screens.
document.documentElement.classList.add('js');
document.addEventListener('DOMContentLoaded', function () {
  document.body.classList.add('js');
  var toggle = document.getElementById('menu-toggle');
  var menu = document.getElementById('menu');
  if (toggle && menu) {
    toggle.addEventListener('click', function () {
      var open = menu.classList.toggle('open');
      toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
    });
  }
});

// Check first, confirm after: a button whose action needs a field filled
// (data-needs: the input's id; a reason to return, to take a hospital out,
// to ask for a withdrawal) says so at that field and asks nothing; the
// server judges again.  true: go on.
function vbpNeeds(button) {
  var id = button.getAttribute('data-needs');
  var input = id && document.getElementById(id);
  if (!input) { return true; }
  var err = document.getElementById(id + '-needs');
  if (input.value.trim() !== '') {
    if (err) { err.hidden = true; }
    input.removeAttribute('aria-invalid');
    return true;
  }
  if (!err) {
    err = document.createElement('span');
    err.className = 'field-error';
    err.id = id + '-needs';
    err.setAttribute('role', 'alert');
    input.insertAdjacentElement('afterend', err);
  }
  err.textContent = button.getAttribute('data-needs-message') || '请填写原因';
  err.hidden = false;
  input.setAttribute('aria-invalid', 'true');
  input.setAttribute('aria-describedby', err.id);
  input.focus();
  return false;
}

// Lists: a new page size starts again at page 1; the boxes of a batch are
// counted; a batch with nothing ticked is refused here, and every batch or
// destructive action asks first, naming how many rows it changes.
document.addEventListener('DOMContentLoaded', function () {
  document.querySelectorAll('.pager-size').forEach(function (size) {
    size.addEventListener('change', function () {
      var search = document.getElementById(size.getAttribute('form'));
      if (search) { search.submit(); }
    });
  });

  document.querySelectorAll('form.list-form').forEach(function (form) {
    var boxes = function () { return form.querySelectorAll('input[name=ids]'); };
    var ticked = function () { return form.querySelectorAll('input[name=ids]:checked').length; };
    var counter = form.querySelector('.selected-count');
    // a count that changed clears what was said of the last one
    var count = function () {
      if (counter) { counter.textContent = ticked(); }
      var note = form.querySelector('.batch-error');
      if (note) { note.remove(); }
    };
    form.querySelectorAll('.check-all').forEach(function (all) {
      all.addEventListener('change', function () {
        boxes().forEach(function (c) { c.checked = all.checked; });
        count();
      });
    });
    boxes().forEach(function (c) { c.addEventListener('change', count); });
    count();

    form.addEventListener('submit', function (e) {
      var b = e.submitter;
      if (!b) { return; }
      var batch = b.closest('.batch') !== null;
      var n = batch ? ticked() : 1;
      if (batch && n === 0) {
        e.preventDefault();
        var note = form.querySelector('.batch-error');
        if (!note) {
          note = document.createElement('span');
          note.className = 'field-error batch-error';
          note.setAttribute('role', 'alert');
          b.closest('.batch').appendChild(note);
        }
        note.textContent = form.getAttribute('data-none') || '请先勾选要操作的账户';
        return;
      }
      if (!vbpNeeds(b)) { e.preventDefault(); return; }
      // rows ticked (全选) that the action does not apply to (data-can:
      // what the chain offers each row) are named; the batch goes on over
      // the others if the clerk agrees, else nothing is sent
      var act = b.getAttribute('value');
      var what = b.textContent.trim();
      if (batch && act) {
        var off = Array.prototype.filter.call(form.querySelectorAll('input[name=ids]:checked'), function (c) {
          var can = c.getAttribute('data-can');
          return can !== null && (' ' + can + ' ').indexOf(' ' + act + ' ') < 0;
        });
        if (off.length > 0) {
          var names = off.slice(0, 10).map(function (c) { return c.getAttribute('data-name'); }).join('、') +
                      (off.length > 10 ? ' 等' : '');
          if (off.length === n) {
            e.preventDefault();
            var none = form.querySelector('.batch-error');
            if (!none) {
              none = document.createElement('span');
              none.className = 'field-error batch-error';
              none.setAttribute('role', 'alert');
              b.closest('.batch').appendChild(none);
            }
            none.textContent = '选中的记录当前都不能' + what + '：' + names;
            return;
          }
          if (!window.confirm('选中的 ' + n + ' 项中有 ' + off.length + ' 项当前不能' + what + '：' + names +
                              '。\n只对其余 ' + (n - off.length) + ' 项' + what + '？')) {
            e.preventDefault();
            return;
          }
          off.forEach(function (c) { c.checked = false; });
          count();
          return;
        }
      }
      var ask = b.getAttribute('data-confirm');
      if (ask && !window.confirm(ask.replace('{n}', n))) {
        e.preventDefault();
      }
    });
  });

  // any other form's action that asks first (提交, 上报, 申请撤回)
  document.querySelectorAll('form:not(.list-form)').forEach(function (form) {
    form.addEventListener('submit', function (e) {
      if (e.submitter && !vbpNeeds(e.submitter)) { e.preventDefault(); return; }
      var ask = e.submitter && e.submitter.getAttribute('data-confirm');
      if (ask && !window.confirm(ask.replace('{n}', 1))) {
        e.preventDefault();
      }
    });
  });

  // a group of the permission tree checks or clears its leaves
  document.querySelectorAll('.perm-tree .group').forEach(function (g) {
    var leaves = g.closest('.perm-group').querySelectorAll('input[name=permissions]');
    g.checked = leaves.length > 0 && Array.prototype.every.call(leaves, function (l) { return l.checked; });
    g.addEventListener('change', function () {
      leaves.forEach(function (l) { l.checked = g.checked; });
    });
  });

  // imports send the file itself as the body (see README, JSON API)
  var form = document.getElementById('import-form');
  if (form) {
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var file = document.getElementById('import-file').files[0];
      // the form names its API (a catalog: its project's); orgs add the kind
      var kind = document.getElementById('import-kind');
      var action = form.getAttribute('data-action') +
                   (kind ? encodeURIComponent(kind.value) : '');
      var result = document.getElementById('import-result');
      var fileError = document.getElementById('error-file');
      var table = document.getElementById('import-errors');
      var body = table.querySelector('tbody');
      fileError.hidden = true;
      result.hidden = true;
      table.hidden = true;
      body.textContent = '';
      if (!file) {
        fileError.textContent = '请选择要导入的文件';
        fileError.hidden = false;
        return;
      }
      var button = document.getElementById('import-go');
      button.disabled = true;
      result.textContent = '正在导入……';
      result.hidden = false;
      fetch(action, {
        method: 'POST',
        headers: {
          'X-CSRF-Token': form.getAttribute('data-csrf'),
          'Content-Type': /\.xlsx$/i.test(file.name)
            ? 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'
            : 'text/csv'
        },
        body: file,
        credentials: 'same-origin'
      }).then(function (r) {
        return r.json().then(function (j) { return { ok: r.ok, j: j }; });
      }).then(function (res) {
        button.disabled = false;
        if (res.ok) {
          result.textContent = res.j.message + '：' + res.j.summary + '。';
          return;
        }
        var err = res.j.error || {};
        result.hidden = true;
        fileError.textContent = (err.fields && err.fields.file) || err.message || '导入失败';
        fileError.hidden = false;
        (err.rows || []).forEach(function (row) {
          var tr = document.createElement('tr');
          [row.line, row.column || row.field || '', row.message].forEach(function (v) {
            var td = document.createElement('td');
            td.textContent = v;
            tr.appendChild(td);
          });
          body.appendChild(tr);
        });
        table.hidden = (err.rows || []).length === 0;
      }).catch(function () {
        button.disabled = false;
        result.hidden = true;
        fileError.textContent = '网络错误，请重试';
        fileError.hidden = false;
      });
    });
  }
});

// 报量填报: leaving the page (paging, searching, a link) with typed but
// unsaved lines asks first; 暂存 itself does not.
document.addEventListener('DOMContentLoaded', function () {
  var form = document.querySelector('form[data-unsaved-warning]');
  if (!form) { return; }
  var dirty = false;
  form.addEventListener('input', function () { dirty = true; });
  form.addEventListener('change', function () { dirty = true; });
  form.addEventListener('submit', function () { dirty = false; });
  window.addEventListener('beforeunload', function (e) {
    if (!dirty) { return; }
    e.preventDefault();
    e.returnValue = form.getAttribute('data-unsaved-warning');
    return e.returnValue;
  });
  // the pager's buttons belong to the search form: ask there too, since
  // some browsers do not show beforeunload for a form's own submit
  var search = document.getElementById('search');
  if (search) {
    search.addEventListener('submit', function (e) {
      if (dirty && !window.confirm(form.getAttribute('data-unsaved-warning'))) {
        e.preventDefault();
      } else {
        dirty = false;
      }
    });
  }
});

// What was typed into a form marked data-keep (提交's 联系人, 联系电话) is
// kept across the reload an upload makes, for this tab only, and put back
// once: the clerk who uploads the sheet after typing the phone number does
// not type it again.
// (what the page shows is kept, typed or not: the page may be the answer
// of a refused POST, showing what was sent, which the GET after the
// upload would not)
function keepTyped(target) {
  var path = new URL(target, location.href).pathname;
  document.querySelectorAll('form[data-keep]').forEach(function (form) {
    var kept = {};
    form.querySelectorAll('input[type=text], input:not([type]), input[type=tel], textarea').forEach(function (f) {
      if (f.name && f.value !== '') { kept[f.name] = f.value; }
    });
    try {
      sessionStorage.setItem('vbp-keep:' + form.id + ':' + path, JSON.stringify(kept));
    } catch (e) { /* storage refused: the values are typed again */ }
  });
}

// (on load: after every DOMContentLoaded handler, so that those listening
// to the fields hear them filled)
window.addEventListener('load', function () {
  document.querySelectorAll('form[data-keep]').forEach(function (form) {
    var key = 'vbp-keep:' + form.id + ':' + location.pathname, kept = null;
    try {
      kept = JSON.parse(sessionStorage.getItem(key) || 'null');
      sessionStorage.removeItem(key);
    } catch (e) { kept = null; }
    if (!kept) { return; }
    Object.keys(kept).forEach(function (name) {
      var f = form.elements[name];
      if (f && typeof f.value === 'string') {
        f.value = kept[name];
        f.dispatchEvent(new Event('input', { bubbles: true }));
      }
    });
  });
});

// Uploads (承诺书, 需求量汇总表, 说明, 盖章汇总数据): the file is the request's
// body (POST /api/files/upload); the page reloads to list it, or says why
// it was refused next to the input.
document.addEventListener('DOMContentLoaded', function () {
  var csrf = document.querySelector('input[name=_csrf]');
  document.querySelectorAll('input[type=file][data-upload-kind], input[type=file][data-upload-url]').forEach(function (input) {
    input.addEventListener('change', function () {
      var file = input.files && input.files[0];
      if (!file) { return; }
      // the refusal is said next to the input that was refused
      var box = input.uploadError;
      if (!box) {
        box = input.uploadError = document.createElement('span');
        box.className = 'field-error upload-error';
        box.setAttribute('role', 'alert');
        box.hidden = true;
        (input.closest('label') || input).insertAdjacentElement('afterend', box);
      }
      box.hidden = true;
      // a notice's attachments go to their own place (data-upload-url)
      var url = input.getAttribute('data-upload-url');
      if (url) {
        url += '&name=' + encodeURIComponent(file.name);
      } else {
        url = '/api/files/upload?project=' + encodeURIComponent(input.getAttribute('data-project')) +
              '&kind=' + encodeURIComponent(input.getAttribute('data-upload-kind')) +
              '&name=' + encodeURIComponent(file.name);
        var cert = input.getAttribute('data-certificate');
        if (cert) {
          url += '&certificate=' + encodeURIComponent(cert);
        }
      }
      fetch(url, {
        method: 'POST', credentials: 'same-origin', body: file,
        headers: { 'Content-Type': 'application/octet-stream',
                   'X-CSRF-Token': csrf ? csrf.value : '' }
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (j) {
          // back to the page as a GET (it may be the answer of a POST)
          if (r.ok) {
            var target = input.getAttribute('data-return') || window.location.href;
            keepTyped(target);
            window.location.href = target;
            return;
          }
          var e = j.error || {};
          var msg = (e.fields && (e.fields.file || e.fields.certificate || e.fields.kind)) ||
                    e.message || '上传失败';
          box.textContent = msg;
          box.hidden = false;
          input.setAttribute('aria-invalid', 'true');
        });
      }).catch(function () {
        box.textContent = '上传失败，请检查网络后重试';
        box.hidden = false;
      });
    });
  });
});


// 报量填报: the running totals and a line's 超出阈值 follow what is typed
// (the filing's totals less this page's stored values plus the typed
// ones); the server stays the judge at 暂存.  The checklist of 提交 ticks
// 联系人 and 联系电话 as they are filled.
document.addEventListener('DOMContentLoaded', function () {
  var table = document.getElementById('lines');
  // as the server reads a count: full-width digits as digits, spaces left
  // out; anything else is no count (0 here, an error at 暂存)
  var digits = function (v) {
    return String(v || '').replace(/[\s\u3000]/g, '').replace(/[\uff10-\uff19]/g, function (c) {
      return String.fromCharCode(c.charCodeAt(0) - 0xfee0);
    });
  };
  var num = function (v) { v = digits(v); return /^[0-9]+$/.test(v) ? parseInt(v, 10) : 0; };
  if (table && table.getAttribute('data-threshold') !== null) {
    var pct = num(table.getAttribute('data-threshold'));
    var beyond = function (last, demand) {
      return (demand > 0 && last === 0) || (last > 0 && Math.abs(demand - last) * 100 > last * pct);
    };
    var totals = [['last-year-total', 'last_year', 'data-saved-last'],
                  ['demand-total', 'demand', 'data-saved-demand'],
                  ['intended-total', 'intended', 'data-saved-intended']];
    var update = function () {
      var rows = table.querySelectorAll('tbody tr[data-serial]');
      totals.forEach(function (t) {
        var out = document.getElementById(t[0]);
        if (!out) { return; }
        var sum = num(out.getAttribute('data-saved'));
        rows.forEach(function (tr) {
          var input = tr.querySelector('input[name=' + t[1] + ']');
          if (input) { sum += num(input.value) - num(tr.getAttribute(t[2])); }
        });
        out.textContent = sum;
      });
      var count = document.getElementById('beyond-count');
      var n = count ? num(count.getAttribute('data-saved')) : 0;
      rows.forEach(function (tr) {
        var last = tr.querySelector('input[name=last_year]');
        var demand = tr.querySelector('input[name=demand]');
        if (!last || !demand) { return; }
        var now = (last.value.trim() !== '' || demand.value.trim() !== '') && beyond(num(last.value), num(demand.value));
        n += (now ? 1 : 0) - (tr.getAttribute('data-saved-beyond') === '1' ? 1 : 0);
        tr.classList.toggle('beyond', now);
        var tag = tr.querySelector('.beyond-tag');
        if (tag) { tag.hidden = !now; }
      });
      if (count) { count.textContent = n; }
    };
    table.addEventListener('input', update);
    // a count that is none is marked as it is typed: the totals leave it out
    table.addEventListener('input', function (e) {
      var input = e.target;
      if (!input.classList || !input.classList.contains('qty')) { return; }
      var v = digits(input.value);
      var bad = v !== '' && !/^[0-9]+$/.test(v);
      input.classList.toggle('qty-bad', bad);
      input.title = bad ? '请填写整数（数字）' : '';
    });
  }

  [['contact', function (v) { return v !== ''; }],
   ['phone', function (v) { return /^[0-9-]{7,20}$/.test(v); }]].forEach(function (c) {
    var input = document.getElementById(c[0]);
    var item = document.querySelector('#checklist li[data-check=' + c[0] + ']');
    if (!input || !item) { return; }
    var tick = function () {
      var done = c[1](input.value.trim());
      item.classList.toggle('done', done);
      item.querySelector('.tick').textContent = done ? '✓' : '○';
      var sr = item.querySelector('.sr-only');
      if (sr) { sr.textContent = done ? '（已完成）' : '（未完成）'; }
    };
    input.addEventListener('input', tick);
    tick();
  });
});
