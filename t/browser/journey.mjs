// Browser journey in Debian's headless chromium: open the site, sign in
// with the captcha, change the password when forced, see the home page,
// sign out.  BASE, REDIS_PORT, OUT and VBP_USER come from t/900-browser.t.
import { mkdirSync } from 'node:fs';
import { base, out, ok, launch, signIn, changePassword } from './lib.mjs';

const user = process.env.VBP_USER;
const oldPassword = 'Demo@Pass1234';
const newPassword = 'Browser@Pass2026';
mkdirSync(out, { recursive: true });

const browser = await launch();

try {
  const context = await browser.newContext();
  const page = await context.newPage();

  await page.goto(base + '/');
  ok(page.url().endsWith('/login'), 'signed out, the site opens on the login page');
  ok((await page.textContent('h1')) === '用户登录', 'the login page is in Chinese');

  await signIn(page, context, user, oldPassword);
  ok(page.url().endsWith('/password'), 'first sign-in leads to the password change');

  await changePassword(page, context, user, oldPassword, newPassword);
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
