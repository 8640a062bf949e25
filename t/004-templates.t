# A template with a syntax error fails `nginx -t` with its file and line;
# a missing template named by vbp_page fails too.  Plain Test::More: nginx
# writes configuration errors to stderr.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use lib 't/lib';
use VBP::Test;

my $dir = tempdir(CLEANUP => 1);
mkdir "$dir/tpl" or die;
mkdir "$dir/logs" or die;

sub write_file { open my $fh, '>', $_[0] or die; print $fh $_[1]; close $fh }

sub nginx_t {
    my $conf = "load_module $ENV{TEST_NGINX_LOAD_MODULES};\n"
        . "error_log $dir/logs/error.log;\npid $dir/logs/nginx.pid;\n"
        . "events {}\nhttp {\n vbp_templates $dir/tpl;\n"
        . " server {\n  listen 127.0.0.1:1;\n  location / { vbp_auth off; vbp_page $_[0]; }\n }\n}\n";
    write_file("$dir/nginx.conf", $conf);
    my $out = `nginx -t -p $dir -c $dir/nginx.conf 2>&1`;
    return ($? >> 8, $out);
}

write_file("$dir/tpl/good.html", "<p>{{#items}}{{name}}{{/items}}</p>\n");
my ($rc, $out) = nginx_t('good.html');
is($rc, 0, 'a good template passes nginx -t') or diag($out);

write_file("$dir/tpl/broken.html", "<p>\n\n{{#items}}{{name}}\n</p>\n");
($rc, $out) = nginx_t('good.html');
isnt($rc, 0, 'an unclosed section fails nginx -t');
like($out, qr{broken\.html:3:}, '... naming the file and the line') or diag($out);
unlink "$dir/tpl/broken.html";

write_file("$dir/tpl/partial.html", "x\n{{> nowhere}}\n");
($rc, $out) = nginx_t('good.html');
like($out, qr{partial\.html:2:.*nowhere}, 'a missing partial: file, line and name') or diag($out);
unlink "$dir/tpl/partial.html";

($rc, $out) = nginx_t('absent.html');
isnt($rc, 0, 'vbp_page naming a missing template fails nginx -t');
like($out, qr{template "absent\.html" not found}, '... and says which') or diag($out);

# the platform's own templates compile
my $own = `nginx -t -p $dir -c $dir/nginx.conf 2>&1`;
write_file("$dir/nginx.conf", "load_module $ENV{TEST_NGINX_LOAD_MODULES};\n"
    . "error_log $dir/logs/error.log;\npid $dir/logs/nginx.pid;\nevents {}\n"
    . "http {\n vbp_templates $VbpTop/lua-free-templates;\n}\n");
$own = `nginx -t -p $dir -c $dir/nginx.conf 2>&1`;
is($? >> 8, 0, "lua-free-templates compiles") or diag($own);

done_testing();
