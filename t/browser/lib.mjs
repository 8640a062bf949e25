// What the browser journeys share: TAP output, Debian's chromium, and
// signing in with the captcha the server stored for this browser.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';

export const base = process.env.BASE;
export const out = process.env.OUT;

export function fail(msg) { console.log('not ok - ' + msg); process.exitCode = 1; throw new Error(msg); }
export function ok(cond, msg) { if (!cond) fail(msg); console.log('ok - ' + msg); }

export function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

// the answer of the captcha this browser holds, as the server stored it
async function captchaAnswer(context) {
  const cookie = (await context.cookies()).find(c => c.name === 'vbp_cap');
  if (!cookie) fail('no captcha cookie');
  return execFileSync('redis-cli', ['-p', process.env.REDIS_PORT, 'GET', 'vbp:cap:' + cookie.value])
    .toString().trim();
}

export async function signIn(page, context, user, password) {
  await page.goto(base + '/login');
  await fillSignIn(page, context, user, password);
}

// the form of the page as it is (a refused sign-in shows it again)
export async function fillSignIn(page, context, user, password) {
  await page.waitForLoadState('load');   // the captcha image, and its cookie
  await page.fill('#username', user);
  await page.fill('#password', password);
  await page.fill('#captcha', await captchaAnswer(context));
  await Promise.all([page.waitForNavigation(), page.click('#login')]);
}

// the forced change after a first sign-in or a reset, then sign in again
export async function changePassword(page, context, user, oldPassword, newPassword) {
  await page.fill('#old_password', oldPassword);
  await page.fill('#new_password', newPassword);
  await page.fill('#confirm_password', newPassword);
  await Promise.all([page.waitForNavigation(), page.click('#change')]);
  ok(page.url().includes('/login?changed=1'), user + ': after the change, sign in again');
  await signIn(page, context, user, newPassword);
}

export async function menu(page) {
  return page.$$eval('nav.menu a', links => links.map(a => a.textContent.trim()));
}
