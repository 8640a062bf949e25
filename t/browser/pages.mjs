// Every page of every role, as a new user walks them (issue 9): each role
// signs in, opens every entry of its menu and every action page, and on
// each checks the answer (200), the menu with its current entry marked,
// no console error, and axe-core with no serious or critical violation.
// Full-page screenshots of every page at 1366 px and at 390 px (nothing
// wider than the screen); three at 390 px check the menu folds.  VBP_USERS: "role:username ..." (every one with VBP_PASSWORD).
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { base, out, ok, launch, signIn } from './lib.mjs';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const users = process.env.VBP_USERS.split(' ').map(s => s.split(':'));
const password = process.env.VBP_PASSWORD;
mkdirSync(out, { recursive: true });

const browser = await launch();

// a page's findings are all reported, then the walk goes on
function check_ok(cond, msg) {
  if (cond) { console.log('ok - ' + msg); return; }
  console.log('not ok - ' + msg);
  process.exitCode = 1;
}

// the action pages under a list: the first row's links, and the forms
// (the pages they lead to are walked in turn, each once per role)
const actions = {
  '/users': ['/users/new', 'a[href^="/users/edit?id="]'],
  '/subusers': ['/subusers/new', 'a[href^="/subusers/edit?id="]', 'a[href^="/subusers/grant?id="]'],
  '/projects': ['a.go-filing', 'a.go-review', 'a#new-project', 'a.go-edit', 'a.go-catalog'],
  '/review': ['a#go-progress', 'a#go-confirm', 'a[href^="/review/item?id="]'],
  '/review/summary': ['a#go-progress', 'a[href^="/review/item?id="]', 'a[href^="/review?"]',
                      'a[href^="/review/summary?"][href*="region="]'],
  '/notices': ['a[href^="/notices/view?id="]'],
  '/notices/manage': ['/notices/new', 'a[href^="/notices/edit?id="]', 'a[href^="/notices/readers?id="]'],
};

async function walk(page, role, path, errors, seen) {
  const name = path.replace(/\?.*/, '');
  await check(page, role, path, errors, `pages-${role}${name === '/' ? '-home' : name.replace(/\//g, '-')}`);
  for (const a of actions[name] || []) {
    let target = a;
    if (!a.startsWith('/')) {
      const link = await page.$(a);
      if (!link) continue;                 // an empty list has no row to open
      target = await link.getAttribute('href');
    }
    const key = target.replace(/\?.*/, '') + (target.includes('region=') ? '+region' : '');
    if (seen.has(key)) continue;
    seen.add(key);
    await walk(page, role, target, errors, seen);
    await page.goto(base + path);
  }
}

async function check(page, role, path, errors, shot) {
  const answer = await page.goto(base + path);
  ok(answer.status() === 200, `${role} ${path}: 200`);
  const current = await page.$$eval('nav.menu a[aria-current="page"]', l => l.map(a => a.textContent.trim()));
  check_ok(current.length === 1, `${role} ${path}: the menu marks one entry (${current.join(',')})`);
  ok((await page.title()).endsWith(' - 集中带量采购信息平台') && (await page.$('main h1')) !== null,
     `${role} ${path}: its own title and heading`);
  // axe reads the page as it is (the context lets the test's script in)
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical');
  check_ok(bad.length === 0, `${role} ${path}: axe finds no serious or critical violation` +
     bad.map(v => ` [${v.id}: ${v.nodes.map(n => n.target.join(' ')).slice(0, 3).join('; ')}]`).join(''));
  check_ok(errors.length === 0, `${role} ${path}: no console error ${errors.join(' | ')}`);
  errors.length = 0;
  if (shot) {
    await page.screenshot({ path: `${out}/${shot}.png`, fullPage: true });
    console.log(`ok - screenshot ${shot}.png`);
  }
  // the same page on a 390 px phone: nothing wider than the screen
  if (page.phone) {
    await page.phone.goto(base + path);
    const wide = await page.phone.evaluate(() => document.documentElement.scrollWidth);
    check_ok(wide <= 390, `${role} ${path} at 390 px: nothing wider than the screen (${wide})`);
    if (shot) await page.phone.screenshot({ path: `${out}/${shot}-390.png`, fullPage: true });
  }
}

try {
  for (const [role, username] of users) {
    const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1366, height: 900 } });
    const page = await context.newPage();
    const errors = [];
    page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', e => errors.push(e.message));

    await signIn(page, context, username, password);
    ok(new URL(page.url()).pathname === '/', `${role}: signed in`);
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 } });
    page.phone = await phone.newPage();
    await signIn(page.phone, phone, username, password);
    const menu = await page.$$eval('nav.menu a', l => l.map(a => a.getAttribute('href')));
    ok(menu.length >= 2, `${role}: a menu of ${menu.length} entries`);

    const seen = new Set(menu);
    for (const path of menu) await walk(page, role, path, errors, seen);

    // the platform's own error pages, in the layout
    const missing = await page.goto(base + '/no-such-page');
    ok(missing.status() === 404 && (await page.textContent('main h1')).includes('页面或接口不存在'),
       `${role}: a missing page is the platform's page`);
    errors.length = 0;                     // the browser logs the 404 itself

    await context.close();
    await phone.close();
  }

  // three pages on a 390 px phone: the menu folds, tables scroll in their box
  const [role, username] = users[0];
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
  const page = await phone.newPage();
  await signIn(page, phone, username, password);
  for (const path of ['/', '/users', '/audit']) {
    await page.goto(base + path);
    ok(!(await page.isVisible('nav.menu a[href="/users"]')), `390 px ${path}: the menu is folded`);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    ok(wide <= 390, `390 px ${path}: nothing wider than the screen (${wide})`);
    await page.screenshot({ path: `${out}/phone${path === '/' ? '-home' : path.replace(/\//g, '-')}.png`, fullPage: true });
    console.log('ok - screenshot phone' + path);
  }
  await page.click('#menu-toggle');
  ok(await page.isVisible('nav.menu a[href="/users"]'), '390 px: 菜单 unfolds the menu');
  await phone.close();
} catch (e) {
  if (!process.exitCode) { console.log('not ok - ' + e.message); process.exitCode = 1; }
} finally {
  await browser.close();
}
