// Browser journey in Debian's headless chromium: open the site, sign in
// with the captcha, change the password when forced, see the home page,
// sign out.  BASE, REDIS_PORT and OUT come from t/900-browser.t.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

const base = process.env.BASE;
const out = process.env.OUT;
const user = process.env.VBP_USER;
const oldPassword = 'Demo@Pass1234';
const newPassword = 'Browser@Pass2026';
mkdirSync(out, { recursive: true });

function fail(msg) { console.log('not ok - ' + msg); process.exitCode = 1; throw new Error(msg); }
function ok(cond, msg) { if (!cond) fail(msg); console.log('ok - ' + msg); }

// the answer of the captcha this browser holds, as the server stored it
async function captchaAnswer(context) {
  const cookie = (await context.cookies()).find(c => c.name === 'vbp_cap');
  if (!cookie) fail('no captcha cookie');
  return execFileSync('redis-cli', ['-p', process.env.REDIS_PORT, 'GET', 'vbp:cap:' + cookie.value])
    .toString().trim();
}

async function signIn(page, context, password) {
  await page.goto(base + '/login');
  await page.waitForLoadState('load');   // the captcha image, and its cookie
  await page.fill('#username', user);
  await page.fill('#password', password);
  await page.fill('#captcha', await captchaAnswer(context));
  await Promise.all([page.waitForNavigation(), page.click('#login')]);
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--no-first-run'],
});

try {
  const context = await browser.newContext();
  const page = await context.newPage();

  await page.goto(base + '/');
  ok(page.url().endsWith('/login'), 'signed out, the site opens on the login page');
  ok((await page.textContent('h1')) === '用户登录', 'the login page is in Chinese');

  await signIn(page, context, oldPassword);
  ok(page.url().endsWith('/password'), 'first sign-in leads to the password change');

  await page.fill('#old_password', oldPassword);
  await page.fill('#new_password', newPassword);
  await page.fill('#confirm_password', newPassword);
  await Promise.all([page.waitForNavigation(), page.click('#change')]);
  ok(page.url().includes('/login?changed=1'), 'after the change, sign in again');

  await signIn(page, context, newPassword);
  ok(new URL(page.url()).pathname === '/', 'the new password opens the home page');
  ok((await page.textContent('#role-title')).includes('医疗机构工作台'), 'the hospital home page');
  ok((await page.textContent('#org-name')).length > 0, 'the org name is shown');
  await page.screenshot({ path: out + '/home.png', fullPage: true });
  console.log('ok - screenshot saved to ' + out + '/home.png');

  await Promise.all([page.waitForNavigation(), page.click('#logout')]);
  ok(page.url().endsWith('/login'), 'signed out');
  await page.goto(base + '/');
  ok(page.url().endsWith('/login'), 'the session is gone');
} catch (e) {
  if (!process.exitCode) { console.log('not ok - ' + e.message); process.exitCode = 1; }
} finally {
  await browser.close();
}
