// Click the captcha for a new one (no inline scripts: the pages' CSP forbids them).
document.addEventListener('DOMContentLoaded', function () {
  var img = document.getElementById('captcha-image');
  if (img) {
    img.addEventListener('click', function () {
      img.src = '/captcha?' + Date.now();
    });
  }
});
