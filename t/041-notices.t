# 公告通知 (seed 002's home page): the alliance and the bureaus publish
# announcements and policy files to the orgs in their scope; every org's
# home page lists those meant for it, newest first, unread marked; the
# publisher sees who has read each; the platform's own notices (a return, a
# withdrawal request, a project's windows) reach the org concerned.  Scope:
# a notice not meant for a reader is not there for it.

use strict;
use utf8;
use warnings;
use lib 't/lib';
use VBP::Test;
use Test::More;
use Encode ();

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $base = vbp_nginx_start();
END { vbp_nginx_stop() }

my $pw = 'Notice@Test2026';
my @users = qw(lcb_admin ln_admin ah_admin sy_admin dl_admin H21010200011 H21020200012 H34010200011 weigao);
my %as = vbp_sign_in($pw, @users);
sub call { my $who = shift; return vbp_api($base, $as{$who}, @_) }
sub get { my ($who, $path) = @_; return call($who, 'GET', $path) }
sub post { my ($who, $path, $body) = @_; return call($who, 'POST', $path, $body) }
sub titles { my $d = shift; return [map { $_->{title} } @{ $d->{items} // [] }] }
sub has { my ($who, $title) = @_; my (undef, $d) = get($who, '/api/notices?per_page=100');
          return scalar grep { $_ eq $title } @{ titles($d) } }

vbp_sql("DELETE FROM notices WHERE title LIKE 't41%'");

# --- who may publish what ------------------------------------------------------

my ($st, $d) = post('H21010200011', '/api/notices/create', { kind => 'announcement', title => 't41 x', audience => ['hospital'] });
is $st, 403, 'a hospital publishes nothing';

($st, $d) = post('sy_admin', '/api/notices/create', { kind => 'announcement', title => 't41 x', audience => ['province_bureau'] });
is $st, 422, 'a city cannot address its province';
is $d->{error}{fields}{audience}, '不能向该类单位发布公告', '... said at the audience';

($st, $d) = post('ln_admin', '/api/notices/create', { kind => 'news', title => '', audience => [], body => "a\x{0}b",
                                                     publish_at => '2026-13-01 10:00', end_at => 'x' });
is $st, 422, 'every bad field at once';
my $f = $d->{error}{fields};
ok $f->{kind} && $f->{title} && $f->{audience} && $f->{body} && $f->{publish_at} && $f->{end_at},
   '... kind, title, audience, body, publish and end times each at its field';

($st, $d) = post('ln_admin', '/api/notices/create', { kind => 'announcement', title => 't41 x', audience => ['hospital'],
                                                     region => '340000' });
is $st, 422, 'a province cannot narrow to another province';
is $d->{error}{fields}{region}, '区划不存在或不在管辖范围内', '... as if it did not exist';

($st, $d) = post('ln_admin', '/api/notices/create', { kind => 'announcement', title => 't41 x', audience => ['hospital'],
                                                     publish_at => '2027-01-02 10:00', end_at => '2027-01-01 10:00' });
is $st, 422, 'an end before the publish time';
is $d->{error}{fields}{end_at}, '结束时间应晚于发布时间', '... said at the end';

# --- a province's announcement reaches its cities and hospitals only ------------

my $body = "各医疗机构：\n请于截止日前完成报量填报。";
($st, $d) = post('ln_admin', '/api/notices/create', { kind => 'announcement', title => 't41 辽宁报量通知',
    body => $body, audience => ['city_bureau', 'hospital'] });
is $st, 201, 'Liaoning publishes to its cities and hospitals';
my $ln = $d->{id};

ok has('sy_admin', 't41 辽宁报量通知'), '... Shenyang\'s bureau reads it';
ok has('H21020200012', 't41 辽宁报量通知'), '... a hospital of Dalian too';
ok !has('H34010200011', 't41 辽宁报量通知'), '... not a hospital of Anhui';
ok !has('ah_admin', 't41 辽宁报量通知'), '... nor Anhui\'s bureau';
ok !has('weigao', 't41 辽宁报量通知'), '... nor a manufacturer';
($st) = get('H34010200011', "/api/notices/get?id=$ln");
is $st, 404, '... for whom it is not there at all';

($st, $d) = get('H21010200011', '/');
($st, my $html) = vbp_page($base, $as{H21010200011}, '/');
like $html, qr{<li class="unread"><a href="/notices/view\?id=$ln">t41 辽宁报量通知</a> <span class="tag unread-tag">未读</span>}, 'the hospital\'s home page lists it, unread';
like $html, qr{id="unread-count">\d+ 条未读}, '... with the count of unread';

($st, $d) = get('H21010200011', "/api/notices/get?id=$ln");
is $st, 200, 'the hospital opens it';
is $d->{body}, $body, '... the text as written, lines kept';
(undef, $d) = get('H21010200011', '/api/notices?per_page=100');
my ($row) = grep { $_->{id} == $ln } @{ $d->{items} };
ok !$row->{unread}, '... and it is read now';
(undef, $d) = get('H21020200012', '/api/notices?per_page=100');
($row) = grep { $_->{id} == $ln } @{ $d->{items} };
ok $row->{unread}, '... still unread for the hospital that did not open it';

# --- who has read it ------------------------------------------------------------

($st, $d) = get('ln_admin', "/api/notices/readers?id=$ln&read=read&per_page=100");
is $st, 200, 'the province sees who has read it';
is_deeply [map { $_->{org_code} } @{ $d->{readers}{items} }], ['H21010200011'], '... the one hospital that opened it';
($st, $d) = get('ln_admin', "/api/notices/readers?id=$ln&read=unread&per_page=10");
is $d->{readers}{total}, vbp_sql("SELECT count(*) FROM orgs o JOIN regions g ON g.id = o.region_id"
    . " WHERE o.kind IN ('city_bureau', 'hospital') AND g.path LIKE '/1/2/%'") - 1, '... and every other org of its audience as unread';
(undef, $d) = get('ln_admin', '/api/notices/mine');
($row) = grep { $_->{id} == $ln } @{ $d->{items} };
is $row->{read}, 1, 'its list counts one org read';
($st) = get('ah_admin', "/api/notices/readers?id=$ln");
is $st, 404, 'another province cannot see who has read it';
($st) = get('sy_admin', "/api/notices/readers?id=$ln");
is $st, 404, 'a city cannot see the readers of the province\'s notice';

# --- attachments: PDFs only, read by the audience ---------------------------------

my $pdf = "%PDF-1.4\n% t41 政策 $$\n%%EOF\n";
utf8::encode($pdf);
($st, $d) = call('ln_admin', 'POST', "/api/notices/attach?id=$ln&name=policy.pdf", $pdf, 'application/octet-stream');
is $st, 201, 'a PDF attached';
my $sha = $d->{sha256};
($st, $d) = call('ln_admin', 'POST', "/api/notices/attach?id=$ln&name=x.png", "\x89PNG\r\n\x1a\n" . ("\0" x 40), 'application/octet-stream');
is $st, 415, 'a picture is not an attachment of a notice';
($st, $d) = call('sy_admin', 'POST', "/api/notices/attach?id=$ln&name=y.pdf", $pdf, 'application/octet-stream');
is $st, 404, 'a city attaches nothing to the province\'s notice';
my ($s2, undef, $raw) = get('H21020200012', "/api/notices/file?id=$ln&sha256=$sha");
is $s2, 200, 'a hospital of the audience downloads it';
is $raw, $pdf, '... byte for byte';
($s2) = get('H34010200011', "/api/notices/file?id=$ln&sha256=$sha");
is $s2, 404, '... one outside the audience cannot';
($st) = post('ln_admin', '/api/notices/detach', { id => $ln, sha256 => $sha });
is $st, 200, 'the attachment taken off';
is vbp_sql("SELECT count(*) FROM uploads WHERE sha256 = '$sha'"), 0, '... and gone from the store, named by nothing';

# --- a policy file of the alliance, ended, withdrawn --------------------------------

($st, $d) = post('lcb_admin', '/api/notices/create', { kind => 'policy', title => 't41 国家政策文件',
    audience => ['province_bureau', 'manufacturer'] });
is $st, 201, 'the alliance publishes a policy file to provinces and manufacturers';
my $policy = $d->{id};
ok has('ah_admin', 't41 国家政策文件') && has('weigao', 't41 国家政策文件'), '... both read it';
ok !has('sy_admin', 't41 国家政策文件'), '... a city does not';
($st) = post('ln_admin', '/api/notices/withdraw', { id => $policy });
is $st, 404, 'a province cannot withdraw the alliance\'s notice';
($st) = post('lcb_admin', '/api/notices/withdraw', { id => $policy });
is $st, 200, 'the alliance withdraws it';
ok !has('weigao', 't41 国家政策文件'), '... and it reaches nobody more';
($st) = post('lcb_admin', '/api/notices/withdraw', { id => $policy });
is $st, 409, 'withdrawn twice: 409';

($st, $d) = post('sy_admin', '/api/notices/create', { kind => 'announcement', title => 't41 明天发布',
    audience => ['hospital'], publish_at => '2099-01-01 08:00' });
is $st, 201, 'a notice published later';
ok !has('H21010200011', 't41 明天发布'), '... is not read before its time';

# a draft: its attachments uploaded before anyone reads it, then published
($st, $d) = post('sy_admin', '/api/notices/create', { kind => 'announcement', title => 't41 草稿',
    audience => ['hospital'], draft => 1 });
is $st, 201, 'a draft saved';
my $draft = $d->{id};
like $d->{message}, qr/^草稿已保存/, '... said so';
ok !has('H21010200011', 't41 草稿'), '... which no hospital reads';
($st, $d) = get('H21010200011', "/api/notices/get?id=$draft");
is $st, 404, '... nor opens';
($st, $d) = call('sy_admin', 'POST', "/api/notices/attach?id=$draft&name=x.pdf", $pdf, 'application/octet-stream');
is $st, 201, '... its attachment uploaded';
(undef, $d) = get('sy_admin', '/api/notices/mine?per_page=100');
my ($mine) = grep { $_->{id} == $draft } @{ $d->{items} };
is $mine->{state_title}, '草稿', '... the publisher\'s list calls it 草稿';
($st, $d) = post('sy_admin', '/api/notices/update', { id => $draft, kind => 'announcement', title => 't41 草稿',
    audience => ['hospital'] });
is $st, 200, 'the draft published';
ok has('H21010200011', 't41 草稿'), '... the hospital reads it now';
($st, $d) = post('sy_admin', '/api/notices/update', { id => $draft, kind => 'announcement', title => 't41 草稿',
    audience => ['hospital'], draft => 1 });
ok has('H21010200011', 't41 草稿'), '... a published notice never goes back to draft';

# --- the platform's own notices --------------------------------------------------------

my $pid = vbp_open_project('t41 系统通知', 'N', 2, 2);
my $item = vbp_sql("SELECT i.id FROM review_items i JOIN orgs o ON o.id = i.org_id WHERE i.project_id = $pid AND o.code = 'H21010200011'");
vbp_sql("UPDATE review_items SET state = 'submitted' WHERE id = $item");
($st) = post('sy_admin', '/api/review/act', { action => 'return', ids => [$item], reason => '数量与汇总表不一致' });
is $st, 200, 'the city returns the hospital\'s filing';
(undef, $d) = get('H21010200011', '/api/notices?kind=system&per_page=100');
($row) = grep { $_->{title} =~ /t41 系统通知/ && $_->{title} =~ /退回修改/ } @{ $d->{items} };
ok $row, '... the hospital has a notice of it';
is $row->{href}, "/filing?project=$pid", '... leading to its filing';
($st, $d) = get('H21010200011', "/api/notices/get?id=$row->{id}");
is $d->{body}, '沈阳市医疗保障局 退回修改。原因：数量与汇总表不一致', '... saying who, and why';
(undef, $d) = get('H21020200012', '/api/notices?kind=system&per_page=100');
ok !scalar(grep { /t41 系统通知.*退回修改/ } @{ titles($d) }), '... another hospital has none';

vbp_sql("UPDATE review_items SET state = 'submitted' WHERE id = $item");
($st) = post('H21010200011', '/api/filing/withdraw', { project => $pid, reason => '发现漏报' });
is $st, 200, 'the hospital asks to withdraw';
(undef, $d) = get('sy_admin', '/api/notices?kind=system&per_page=100');
ok scalar(grep { $_->{title} =~ /t41 系统通知.*撤回申请/ } @{ $d->{items} }), '... its city has a notice of the request';
(undef, $d) = get('dl_admin', '/api/notices?kind=system&per_page=100');
ok !scalar(grep { $_->{title} =~ /t41 系统通知.*撤回申请/ } @{ $d->{items} }), '... another city has none';

(undef, $d) = get('H21010200011', '/api/notices?kind=system&per_page=100');
ok scalar(grep { $_->{title} eq '「t41 系统通知」医疗机构填报已开始' } @{ $d->{items} }), 'the filing window\'s opening reached the hospital';
(undef, $d) = get('H34010200011', '/api/notices?kind=system&per_page=100');
ok !scalar(grep { $_->{title} =~ /t41 系统通知/ } @{ $d->{items} }), '... not a hospital of a province outside the project';

# a window that closed, then extended: its 已截止 withdrawn, the new times said
vbp_sql("UPDATE projects SET file_closes = now() - interval '1 minute' WHERE id = $pid");
(undef, $d) = get('H21010200011', '/api/notices?kind=system&per_page=100');
ok scalar(grep { $_->{title} eq '「t41 系统通知」医疗机构填报已截止' } @{ $d->{items} }), 'the filing window\'s closing reached the hospital';
vbp_sql("UPDATE projects SET file_closes = now() + interval '2 days' WHERE id = $pid");
(undef, $d) = get('H21010200011', '/api/notices?kind=system&per_page=100');
ok !scalar(grep { $_->{title} eq '「t41 系统通知」医疗机构填报已截止' } @{ $d->{items} }), '... extended, the window\'s 已截止 is gone';
my ($moved) = grep { $_->{title} eq '「t41 系统通知」医疗机构填报时间已调整' } @{ $d->{items} };
ok $moved, '... a notice says the window moved';
(undef, $d) = get('H21010200011', "/api/notices/get?id=$moved->{id}");
like $d->{body}, qr/^医疗机构填报时间调整为：\d{4}-\d\d-\d\d \d\d:\d\d 至 \d{4}-\d\d-\d\d \d\d:\d\d$/, '... with the new times';
(undef, $d) = get('H21010200011', '/api/notices?kind=system&per_page=100');
is scalar(grep { $_->{title} =~ /t41 系统通知.*医疗机构填报/ } @{ $d->{items} }), 2, '... said once: the opening and the move';

# --- pages -----------------------------------------------------------------------------

($st, $html) = vbp_page($base, $as{H21010200011}, "/notices/view?id=$ln");
is $st, 200, 'the notice\'s page';
like $html, qr{<div class="notice-body" id="notice-body">各医疗机构：\n请于截止日前完成报量填报。</div>}, '... its text, escaped, lines kept';
($st, $html) = vbp_page($base, $as{ln_admin}, '/notices/manage');
like $html, qr{href="/notices/readers\?id=$ln">已读 1 / \d+ 家</a>}, 'the province\'s list says how many read';
($st, $html, my $h) = vbp_form($base, $as{ln_admin}, '/notices/new', kind => 'announcement', title => '', body => '正文留着',
                               audience => 'hospital');
is $st, 422, 'a refused form';
like $html, qr{<textarea name="body" id="body"[^>]*>正文留着</textarea>}, '... shows again what was sent';
like $html, qr{id="title-error">请填写标题}, '... the error at its field';
($st, $html, $h) = vbp_form($base, $as{ln_admin}, '/notices/new', kind => 'announcement', title => 't41 页面发布',
                            body => '', audience => 'hospital', region => '210100');
is $st, 303, 'published from the page';
like $h->{location}, qr{/notices/edit\?id=\d+&done=1$}, '... on to its own page to attach files';
ok has('H21010200011', 't41 页面发布') && !has('H21020200012', 't41 页面发布'), '... narrowed to Shenyang\'s hospitals';

vbp_sql("DELETE FROM projects WHERE id = $pid");
done_testing();
