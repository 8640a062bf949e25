-- Demo data: the alliance, two provinces with three cities and 省本级 each,
-- 34 hospitals, 3 manufacturers, and a main account for every org.
-- Idempotent: loading it again changes nothing (passwords changed by users
-- stay changed).  psql variable demo_hash: the argon2id hash of the demo
-- password (make prints it; see README).

INSERT INTO regions (code, name, level, parent_id, path, provincial)
VALUES ('86', '全国', 'nation', NULL, '/', false)
ON CONFLICT (code) DO NOTHING;

UPDATE regions SET path = '/' || id || '/' WHERE code = '86' AND path = '/';

CREATE TEMP TABLE demo_regions (code text, name text, parent text, provincial boolean);
INSERT INTO demo_regions VALUES
    ('210000', '辽宁省', '86', false),
    ('340000', '安徽省', '86', false),
    ('210100', '沈阳市', '210000', false),
    ('210200', '大连市', '210000', false),
    ('210300', '鞍山市', '210000', false),
    ('219900', '辽宁省本级', '210000', true),
    ('340100', '合肥市', '340000', false),
    ('340200', '芜湖市', '340000', false),
    ('340300', '蚌埠市', '340000', false),
    ('349900', '安徽省本级', '340000', true);

-- provinces first, then cities, so that a parent's path exists
INSERT INTO regions (code, name, level, parent_id, path, provincial)
SELECT d.code, d.name, CASE WHEN p.level = 'nation' THEN 'province' ELSE 'city' END,
       p.id, '', d.provincial
FROM demo_regions d JOIN regions p ON p.code = d.parent
WHERE p.level = 'nation'
ON CONFLICT (code) DO NOTHING;

INSERT INTO regions (code, name, level, parent_id, path, provincial)
SELECT d.code, d.name, 'city', p.id, '', d.provincial
FROM demo_regions d JOIN regions p ON p.code = d.parent
WHERE p.level = 'province'
ON CONFLICT (code) DO NOTHING;

UPDATE regions r SET path = p.path || r.id || '/'
FROM regions p WHERE r.parent_id = p.id AND r.path = '' AND p.level = 'nation';
UPDATE regions r SET path = p.path || r.id || '/'
FROM regions p WHERE r.parent_id = p.id AND r.path = '' AND p.level = 'province';

CREATE TEMP TABLE demo_orgs (code text, name text, kind text, region text,
                             category text, username text, display_name text);
INSERT INTO demo_orgs VALUES
    ('LCB', '省际联盟联合采购办公室', 'alliance', '86', '', 'lcb_admin', '联采办管理员'),
    ('YB210000', '辽宁省医疗保障局', 'province_bureau', '210000', '', 'ln_admin', '辽宁省医保局管理员'),
    ('YB340000', '安徽省医疗保障局', 'province_bureau', '340000', '', 'ah_admin', '安徽省医保局管理员'),
    ('YB210100', '沈阳市医疗保障局', 'city_bureau', '210100', '', 'sy_admin', '沈阳市医保局管理员'),
    ('YB210200', '大连市医疗保障局', 'city_bureau', '210200', '', 'dl_admin', '大连市医保局管理员'),
    ('YB210300', '鞍山市医疗保障局', 'city_bureau', '210300', '', 'as_admin', '鞍山市医保局管理员'),
    ('YB219900', '辽宁省医疗保障局（省本级）', 'city_bureau', '219900', '', 'lnsbj_admin', '辽宁省本级管理员'),
    ('YB340100', '合肥市医疗保障局', 'city_bureau', '340100', '', 'hf_admin', '合肥市医保局管理员'),
    ('YB340200', '芜湖市医疗保障局', 'city_bureau', '340200', '', 'wh_admin', '芜湖市医保局管理员'),
    ('YB340300', '蚌埠市医疗保障局', 'city_bureau', '340300', '', 'bb_admin', '蚌埠市医保局管理员'),
    ('YB349900', '安徽省医疗保障局（省本级）', 'city_bureau', '349900', '', 'ahsbj_admin', '安徽省本级管理员'),
    ('H21010200011', '中国医科大学附属第一医院', 'hospital', '210100', '三级甲等', NULL, NULL),
    ('H21010200022', '中国医科大学附属盛京医院', 'hospital', '210100', '三级甲等', NULL, NULL),
    ('H21010300033', '沈阳市第四人民医院', 'hospital', '210100', '三级甲等', NULL, NULL),
    ('H21010600377', '沈阳市第五人民医院', 'hospital', '210100', '三级乙等', NULL, NULL),
    ('H21010400044', '沈阳市口腔医院', 'hospital', '210100', '三级甲等', NULL, NULL),
    ('H21020200012', '大连医科大学附属第一医院', 'hospital', '210200', '三级甲等', NULL, NULL),
    ('H21020400021', '大连医科大学附属第二医院', 'hospital', '210200', '三级甲等', NULL, NULL),
    ('H21020300034', '大连市中心医院', 'hospital', '210200', '三级甲等', NULL, NULL),
    ('H21020300045', '大连市口腔医院', 'hospital', '210200', '三级甲等', NULL, NULL),
    ('H21020200056', '大连市友谊医院', 'hospital', '210200', '三级乙等', NULL, NULL),
    ('H21030200013', '鞍山市中心医院', 'hospital', '210300', '三级甲等', NULL, NULL),
    ('H21030300024', '鞍钢集团总医院', 'hospital', '210300', '三级甲等', NULL, NULL),
    ('H21030300035', '鞍山市第三医院', 'hospital', '210300', '二级甲等', NULL, NULL),
    ('H21030200046', '鞍山市口腔医院', 'hospital', '210300', '二级甲等', NULL, NULL),
    ('H21030200057', '鞍山市中医院', 'hospital', '210300', '三级甲等', NULL, NULL),
    ('H21990000018', '辽宁省人民医院', 'hospital', '219900', '三级甲等', NULL, NULL),
    ('H21990000029', '辽宁省肿瘤医院', 'hospital', '219900', '三级甲等', NULL, NULL),
    ('H34010200011', '安徽医科大学第一附属医院', 'hospital', '340100', '三级甲等', NULL, NULL),
    ('H34010300022', '中国科学技术大学附属第一医院', 'hospital', '340100', '三级甲等', NULL, NULL),
    ('H34010400033', '合肥市第一人民医院', 'hospital', '340100', '三级甲等', NULL, NULL),
    ('H34010200044', '合肥市第二人民医院', 'hospital', '340100', '三级甲等', NULL, NULL),
    ('H34010300055', '合肥市口腔医院', 'hospital', '340100', '三级甲等', NULL, NULL),
    ('H34020200016', '皖南医学院第一附属医院', 'hospital', '340200', '三级甲等', NULL, NULL),
    ('H34020200027', '芜湖市第一人民医院', 'hospital', '340200', '三级乙等', NULL, NULL),
    ('H34020300038', '芜湖市第二人民医院', 'hospital', '340200', '三级甲等', NULL, NULL),
    ('H34020700049', '芜湖市中医医院', 'hospital', '340200', '三级甲等', NULL, NULL),
    ('H34020200050', '芜湖市口腔医院', 'hospital', '340200', '二级甲等', NULL, NULL),
    ('H34030300017', '蚌埠医学院第一附属医院', 'hospital', '340300', '三级甲等', NULL, NULL),
    ('H34030300028', '蚌埠医学院第二附属医院', 'hospital', '340300', '三级乙等', NULL, NULL),
    ('H34030200039', '蚌埠市第三人民医院', 'hospital', '340300', '三级甲等', NULL, NULL),
    ('H34030400040', '蚌埠市第一人民医院', 'hospital', '340300', '二级甲等', NULL, NULL),
    ('H34030300051', '蚌埠市中医医院', 'hospital', '340300', '三级甲等', NULL, NULL),
    ('H34990000014', '安徽省胸科医院', 'hospital', '349900', '三级甲等', NULL, NULL),
    ('H34990000025', '安徽省儿童医院', 'hospital', '349900', '三级甲等', NULL, NULL),
    ('M370000001', '山东威高骨科材料股份有限公司', 'manufacturer', '86', '生产企业', 'weigao', '威高骨科'),
    ('M440300001', '深圳迈瑞生物医疗电子股份有限公司', 'manufacturer', '86', '生产企业', 'mindray', '迈瑞医疗'),
    ('M350200001', '大博医疗科技股份有限公司', 'manufacturer', '86', '生产企业', 'dabo', '大博医疗');

INSERT INTO orgs (code, name, kind, region_id, category)
SELECT d.code, d.name, d.kind, r.id, d.category
FROM demo_orgs d JOIN regions r ON r.code = d.region
ON CONFLICT (code) DO NOTHING;

-- hospitals sign in with their code, as in the seed systems
INSERT INTO users (username, display_name, org_id, password_hash, must_change_password)
SELECT coalesce(d.username, d.code), coalesce(d.display_name, d.name), o.id,
       :'demo_hash', true
FROM demo_orgs d JOIN orgs o ON o.code = d.code
ON CONFLICT (username) DO NOTHING;

-- A demand-reporting project open now, for Liaoning and Anhui, with a small
-- IVD catalog (two 大项, four certificates), so that every role has
-- something to file, review and approve.  Its windows follow the day the
-- demo data is loaded: hospitals file for 14 days, cities review from the
-- start until day 21, provinces until day 28, the alliance until day 35.
INSERT INTO projects (name, product_line, threshold_pct, file_opens,
                      file_closes, city_opens, city_closes, province_opens,
                      province_closes, alliance_opens, alliance_closes)
SELECT '2027年度体外诊断试剂（生化类）集中带量采购报量', 'ivd', 30,
       d, d + interval '14 days', d, d + interval '21 days',
       d, d + interval '28 days', d, d + interval '35 days'
FROM (SELECT (date_trunc('day', now() AT TIME ZONE 'Asia/Shanghai')
              - interval '1 day') AT TIME ZONE 'Asia/Shanghai' AS d) t
ON CONFLICT (name) DO NOTHING;

INSERT INTO project_provinces (project_id, region_id)
SELECT p.id, r.id FROM projects p, regions r
WHERE p.name = '2027年度体外诊断试剂（生化类）集中带量采购报量'
  AND r.code IN ('210000', '340000')
ON CONFLICT DO NOTHING;

INSERT INTO catalog_lines (project_id, serial, category, subcategory,
                           certificate, manufacturer, product_name, spec, unit)
SELECT p.id, 'IVD' || lpad(g::text, 4, '0'),
       CASE WHEN g <= 16 THEN '肝功能' ELSE '肾功能' END,
       (ARRAY['丙氨酸氨基转移酶', '天门冬氨酸氨基转移酶', '总胆红素', '白蛋白',
              '肌酐', '尿素', '尿酸', '胱抑素C'])[(g - 1) / 4 + 1],
       '国械注准2026340' || lpad(((g - 1) / 8 + 1)::text, 4, '0'),
       (ARRAY['深圳迈瑞生物医疗电子股份有限公司', '四川迈克生物科技股份有限公司',
              '北京利德曼生化股份有限公司', '浙江伊利康生物技术有限公司'])[(g - 1) / 8 + 1],
       (ARRAY['测定试剂盒（速率法）', '测定试剂盒（比色法）',
              '校准品', '质控品'])[(g - 1) % 4 + 1],
       (ARRAY['2×40ml', '4×20ml', '1×3ml', '2×5ml'])[(g - 1) % 4 + 1],
       '盒'
FROM projects p, generate_series(1, 32) g
WHERE p.name = '2027年度体外诊断试剂（生化类）集中带量采购报量'
ON CONFLICT (project_id, serial) DO NOTHING;

SELECT vbp_project_enroll(id) FROM projects
WHERE name = '2027年度体外诊断试剂（生化类）集中带量采购报量';
