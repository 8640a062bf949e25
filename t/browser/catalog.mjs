// The catalog in the browser (issue 10): the alliance creates a project on
// its form (a refused save keeps what was typed), imports its catalog on
// the catalog page -- a file with a bad row lists the row and imports
// nothing, the corrected file imports and the lines are listed -- and
// uploads the commitment letter's template.  VBP_USER/VBP_PASSWORD: the
// alliance; VBP_PROJECT: the name of the project to create.
import { mkdirSync, writeFileSync } from 'node:fs';
import { base, out, ok, launch, signIn } from './lib.mjs';

mkdirSync(out, { recursive: true });
const browser = await launch();
const name = process.env.VBP_PROJECT;

try {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  await signIn(page, context, process.env.VBP_USER, process.env.VBP_PASSWORD);

  // 新增报量项目: without a name first, then with one
  await page.goto(base + '/projects');
  await Promise.all([page.waitForNavigation(), page.click('#new-project')]);
  ok(page.url().endsWith('/projects/new'), 'the list leads to the project form');
  await page.selectOption('#product_line', 'ivd');
  await page.fill('#threshold_pct', '30');
  await page.check('input[name=provinces][value="210000"]');
  const times = { file_opens: '2030-03-01T08:00', file_closes: '2030-03-15T18:00',
                  city_opens: '2030-03-01T08:00', city_closes: '2030-03-20T18:00',
                  province_opens: '2030-03-01T08:00', province_closes: '2030-03-25T18:00',
                  alliance_opens: '2030-03-01T08:00', alliance_closes: '2030-03-31T18:00' };
  for (const [k, v] of Object.entries(times)) await page.fill('#' + k, v);
  // the browser's own check would stop an empty required name: the server's is tested here
  await page.$eval('#name', e => e.removeAttribute('required'));
  await Promise.all([page.waitForNavigation(), page.click('#save')]);
  ok(await page.isVisible('#name-error'), 'a project without a name: the error at the name');
  ok(await page.isChecked('input[name=provinces][value="210000"]'), '... 辽宁省 still ticked');
  ok(await page.inputValue('#city_closes') === '2030-03-20T18:00', '... each time as typed');
  await page.fill('#name', name);
  await Promise.all([page.waitForNavigation(), page.click('#save')]);
  ok(/\/projects(\?|$)/.test(page.url()), 'saved: back to the list');
  const row = page.locator('tr[data-project]', { hasText: name });
  await Promise.all([page.waitForNavigation(), row.locator('a.go-catalog').click()]);
  ok(page.url().includes('/projects/catalog?project='), '... whose 目录 leads to the catalog page');

  // a file with a bad row: listed, nothing imported
  const header = '流水号,大项,小项,注册证,生产企业,产品名称,规格,单位\n';
  const good = ['B001,肝功能,总胆红素,国械注准1,甲公司,试剂1,1盒,盒',
                'B002,肝功能,白蛋白,国械注准1,甲公司,试剂2,1盒,盒',
                'B003,肾功能,肌酐,国械注准2,乙公司,试剂3,1盒,盒'];
  writeFileSync(out + '/catalog-bad.csv', header + good[0] + '\n,肝功能,白蛋白,国械注准1,甲公司,试剂2,1盒,盒\n');
  writeFileSync(out + '/catalog-good.csv', header + good.join('\n') + '\n');
  await page.setInputFiles('#import-file', out + '/catalog-bad.csv');
  await page.click('#import-go');
  await page.waitForSelector('#import-errors:not([hidden])');
  const bad = await page.textContent('#import-errors tbody');
  ok(bad.includes('3') && bad.includes('流水号不能为空'), 'a bad row: listed with its line and column');
  ok((await page.textContent('#error-file')).includes('未导入任何数据'), '... nothing imported, said at the file');
  await page.screenshot({ path: `${out}/catalog-import-errors.png`, fullPage: true });
  console.log('ok - screenshot catalog-import-errors.png');

  await page.setInputFiles('#import-file', out + '/catalog-good.csv');
  await page.click('#import-go');
  await page.waitForFunction(() => /新增 3/.test(document.getElementById('import-result').textContent));
  ok(await page.isHidden('#import-errors'), 'the corrected file: imported, no error listed');
  await page.reload();
  ok(await page.locator('#catalog tr[data-serial]').count() === 3, '... the three lines listed');

  // the template, uploaded when chosen
  writeFileSync(out + '/template.pdf', '%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n');
  await Promise.all([page.waitForNavigation(), page.setInputFiles('#upload-template', out + '/template.pdf')]);
  ok(await page.isVisible('#template-download'), 'the template uploaded: offered for download');
  await page.screenshot({ path: `${out}/catalog-page.png`, fullPage: true });
  console.log('ok - screenshot catalog-page.png');
} finally {
  await browser.close();
}
