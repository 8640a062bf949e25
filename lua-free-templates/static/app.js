// Click the captcha for a new one (no inline scripts: the pages' CSP forbids them).
document.addEventListener('DOMContentLoaded', function () {
  var img = document.getElementById('captcha-image');
  if (img) {
    img.addEventListener('click', function () {
      img.src = '/captcha?' + Date.now();
    });
  }
});

// Lists: the pager buttons set the page box and submit the search form;
// changing a filter or the page size starts again at page 1.
document.addEventListener('DOMContentLoaded', function () {
  var search = document.getElementById('search');
  if (search) {
    var pageBox = search.querySelector('.page-input');
    search.querySelectorAll('.pager-go').forEach(function (b) {
      b.addEventListener('click', function () {
        pageBox.value = b.getAttribute('data-page');
        search.submit();
      });
    });
    search.querySelectorAll('select, input[name=q], input[name=org]').forEach(function (f) {
      f.addEventListener('change', function () { if (pageBox) pageBox.value = 1; });
    });
  }

  document.querySelectorAll('.check-all').forEach(function (all) {
    all.addEventListener('change', function () {
      all.closest('table').querySelectorAll('input[name=ids]').forEach(function (c) {
        c.checked = all.checked;
      });
    });
  });

  // a group of the permission tree checks or clears its leaves
  document.querySelectorAll('.perm-tree .group').forEach(function (g) {
    var leaves = g.closest('details').querySelectorAll('input[name=permissions]');
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
      var kind = document.getElementById('import-kind').value;
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
      fetch('/api/orgs/import?kind=' + encodeURIComponent(kind), {
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
          result.textContent = res.j.message + '：共 ' + res.j.rows + ' 行，新增 ' +
            res.j.inserted + '，更新 ' + res.j.updated + '，未变 ' + res.j.unchanged +
            '，新建主账号 ' + res.j.accounts + '。';
          return;
        }
        var err = res.j.error || {};
        result.hidden = true;
        fileError.textContent = (err.fields && err.fields.file) || err.message || '导入失败';
        fileError.hidden = false;
        (err.rows || []).forEach(function (row) {
          var tr = document.createElement('tr');
          [row.line, row.field || '', row.message].forEach(function (v) {
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
