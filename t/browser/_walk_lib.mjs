import { launch, signIn, fillSignIn } from './lib.mjs';
import fs from 'node:fs';
export const base = process.env.BASE;
export const NEWPW = 'Walk@Clerk2026';
export const DEMO = 'Vbp@Demo2026';
let browser;
export async function getBrowser() { if (!browser) browser = await launch(); return browser; }
export async function closeAll() { if (browser) await browser.close(); }
// a context for user, signed in (state kept in /tmp/walk/state-USER.json)
export async function session(user, opts = {}) {
  const b = await getBrowser();
  const vp = opts.mobile ? { width: 390, height: 844 } : { width: 1366, height: 768 };
  const sf = `/tmp/walk/state-${user}.json`;
  const ctxOpts = { viewport: vp, locale: 'zh-CN' };
  if (opts.mobile) { ctxOpts.deviceScaleFactor = 1; ctxOpts.isMobile = true; ctxOpts.hasTouch = true; }
  if (fs.existsSync(sf)) ctxOpts.storageState = sf;
  const context = await b.newContext(ctxOpts);
  const page = await context.newPage();
  page.on('dialog', async d => { console.log(`[dialog ${d.type()}] ${d.message()}`); if (page._dialogAnswer !== undefined) { const a = page._dialogAnswer; await (a === false ? d.dismiss() : d.accept(typeof a === 'string' ? a : undefined)); } else await d.accept(); });
  page.on('pageerror', e => console.log('[pageerror] ' + e.message));
  page.on('console', m => { if (m.type() === 'error') console.log('[console.error] ' + m.text()); });
  await page.goto(base + '/');
  if (page.url().includes('/login')) {
    let pw = fs.existsSync(`/tmp/walk/pw-${user}`) ? NEWPW : DEMO;
    await fillSignIn(page, context, user, pw);
    if (page.url().includes('/password')) {
      await page.fill('#old_password', pw);
      await page.fill('#new_password', NEWPW);
      await page.fill('#confirm_password', NEWPW);
      await Promise.all([page.waitForNavigation(), page.click('#change')]);
      fs.writeFileSync(`/tmp/walk/pw-${user}`, '1');
      await signIn(page, context, user, NEWPW);
    }
    if (page.url().includes('/login')) throw new Error('sign-in failed for ' + user + ': ' + (await page.textContent('body')).slice(0, 300));
    await context.storageState({ path: sf });
  }
  return { context, page };
}
export async function shot(page, name, full = true) {
  await page.screenshot({ path: `/tmp/walk/${name}.png`, fullPage: full });
}
export async function text(page, sel = 'main') {
  const t = await page.$eval(sel, e => e.innerText).catch(() => '');
  return t;
}
export async function csrf(page) { return page.$eval('input[name=_csrf]', e => e.value).catch(async () => (await (await page.request.get(base + '/api/me')).json()).data?.csrf); }
