import { getBrowser, closeAll, shot, DEMO, NEWPW } from './_walk_lib.mjs';
import { fillSignIn, signIn } from './lib.mjs';
const base = process.env.BASE;
const b = await getBrowser();
for (const mobile of [false, true]) {
  const ctx = await b.newContext(mobile ? { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true } : { viewport: { width: 1366, height: 768 } });
  const page = await ctx.newPage();
  await page.goto(base + '/login');
  await shot(page, `login-${mobile ? 'm' : 'd'}`);
  if (!mobile) {
    // wrong captcha
    await page.fill('#username', 'H21010400044'); await page.fill('#password', DEMO); await page.fill('#captcha', 'zzzz');
    await Promise.all([page.waitForNavigation(), page.click('#login')]);
    console.log('badcap:', (await page.innerText('body')).slice(0, 400));
    await shot(page, 'login-badcap');
    await fillSignIn(page, ctx, 'H21010400044', DEMO);
    console.log('after:', page.url());
    await shot(page, 'password-forced');
    console.log((await page.innerText('body')).slice(0, 800));
    // weak password
    await page.fill('#old_password', DEMO); await page.fill('#new_password', 'abc'); await page.fill('#confirm_password', 'abd');
    await Promise.all([page.waitForNavigation(), page.click('#change')]);
    console.log('weak:', (await page.innerText('main').catch(()=>page.innerText('body'))).slice(0, 800));
    await shot(page, 'password-weak');
  } else {
    await fillSignIn(page, ctx, 'H21010400044', DEMO);
    await shot(page, 'password-forced-m');
  }
  await ctx.close();
}
await closeAll();
