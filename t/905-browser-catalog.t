# The project form and the catalog page in headless chromium
# (t/browser/catalog.mjs): a refused save keeps what was typed, a catalog
# file with a bad row lists it and imports nothing, the corrected one
# imports, the template uploads.  Screenshots under t/browser/output/.
use strict;
use warnings;
use utf8;
use Test::More;
use lib 't/lib';
use VBP::Test;

my $pw = 'Catalog@Walk2026';
my $name = 't905 浏览器目录项目';
vbp_sql("DELETE FROM projects WHERE name = '$name'");
vbp_sql("DELETE FROM login_locks");
vbp_setup("user lcb_admin password=$pw must_change=0 status=active");

vbp_journey('catalog.mjs', 12, [qw(catalog-import-errors catalog-page)],
            VBP_USER => 'lcb_admin', VBP_PASSWORD => $pw, VBP_PROJECT => $name);
is(vbp_sql("SELECT count(*) FROM catalog_lines c JOIN projects p ON p.id = c.project_id WHERE p.name = '$name'"),
   3, 'the catalog imported in the browser is stored');
vbp_sql("DELETE FROM projects WHERE name = '$name'");

done_testing();
