# 撤回申请 (seed 000 §3.3.3, issue 10): a hospital asks to take back a
# submitted or approved filing with a reason; its city grants it (the
# filing is a draft again and can be changed) or refuses it with a reason
# (the filing is back where it was).  Only the hospital's own city decides;
# every step is an event the hospital reads; a request in the wrong state
# is a 409 naming the state.  Plain Test::More against an nginx of its own.

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

my $pw = 'Withdraw@Test2026';
vbp_sql("DELETE FROM login_locks");
my %as = vbp_sign_in($pw, qw(H21010200011 sy_admin dl_admin ln_admin));

sub call { my $who = shift; return vbp_api($base, $as{$who}, @_) }
sub hospital { return call('H21010200011', 'POST', @_) }

my $pid = vbp_open_project('t38 撤回申请', 'W', 2, 2);
my %line = map { split /\|/ } vbp_sql("SELECT serial || '|' || id FROM catalog_lines WHERE project_id = $pid");
my $item = vbp_sql("SELECT i.id FROM review_items i JOIN orgs o ON o.id = i.org_id"
                   . " WHERE i.project_id = $pid AND o.code = 'H21010200011'");
sub state_of { return scalar vbp_sql("SELECT state FROM review_items WHERE id = $item") }
sub events { return scalar vbp_sql("SELECT count(*) FROM review_events WHERE item_id = $item") }

my ($st, $d) = hospital('/api/filing/save', { project => $pid, lines => [
    { catalog_line_id => $line{W001}, last_year => 10, demand => 11, in_use => 1 } ] });
is($st, 200, 'a line saved');
my $pdf = "%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";
for my $kind (qw(commitment summary)) {
    ($st) = call('H21010200011', 'POST', "/api/files/upload?project=$pid&kind=$kind", $pdf, 'application/octet-stream');
    is($st, 201, "... its $kind uploaded");
}

($st, $d) = hospital('/api/filing/withdraw', { project => $pid, reason => '填错了' });
is($st, 409, 'a draft has nothing to take back');
like($d->{error}{message}, qr/已暂存/, '... the answer names the state');

($st) = hospital('/api/filing/submit', { project => $pid, contact => '赵六', phone => '024-11112222' });
is($st, 200, 'submitted');

my $n = events();
($st, $d) = hospital('/api/filing/withdraw', { project => $pid, reason => '' });
is($st, 422, 'a request without a reason');
ok($d->{error}{fields}{reason}, '... said at the reason');
is(events(), $n, '... and no event');

($st, $d) = hospital('/api/filing/withdraw', { project => $pid, reason => '第 2 行填错了' });
is($st, 200, '撤回申请 of a submitted filing');
is(state_of(), 'withdraw_requested', '... 撤回申请中');
($st, $d) = hospital('/api/filing/withdraw', { project => $pid, reason => '再次申请' });
is($st, 409, 'a second request while the first waits: 409');
like($d->{error}{message}, qr/撤回申请中/, '... naming the state');
($st) = hospital('/api/filing/save', { project => $pid, lines => [
    { catalog_line_id => $line{W001}, last_year => 10, demand => 12, in_use => 1 } ] });
is($st, 409, 'while the request waits the filing cannot be changed');
# 填报进度 counts the request apart, and as handed in
($st, $d) = call('sy_admin', 'GET', "/api/review/progress?project=$pid");
is($d->{total}{withdraw_requested}, 1, '填报进度: one 撤回申请中');
is($d->{total}{submitted}, 0, '... not counted as 已提交 as well');
is($d->{total}{filed}, 1, '... but handed in, for the rates');
(undef, undef, my $progress) = call('sy_admin', 'GET', "/review/progress?project=$pid");
like(Encode::decode_utf8($progress), qr{<th class="num">撤回申请中</th>.*<tr data-region="210100">(?:\s*<td[^>]*>[^<]*</td>){5}<td class="num">1</td>}s,
     '... and the page shows it in its own column');

# --- who decides ---------------------------------------------------------------

$n = events();
for my $who (qw(dl_admin ln_admin H21010200011)) {
    ($st) = call($who, 'POST', '/api/review/act', { action => 'grant_withdraw', ids => [$item + 0] });
    ok($st == 404 || $st == 403, "$who cannot grant it ($st)");
}
is(events(), $n, '... nothing written');
($st, $d) = call('sy_admin', 'POST', '/api/review/act', { action => 'approve', ids => [$item + 0] });
is($st, 409, 'the city cannot approve a filing whose hospital asked for it back');

($st, $d) = call('sy_admin', 'POST', '/api/review/act', { action => 'refuse_withdraw', ids => [$item + 0] });
is($st, 422, 'a refusal needs its reason');
($st, $d) = call('sy_admin', 'POST', '/api/review/act', { action => 'refuse_withdraw', ids => [$item + 0],
                                                         reason => '已进入汇总，不同意撤回' });
is($st, 200, 'the city refuses the request');
is(state_of(), 'submitted', '... the filing is back where it was: 已提交');

($st, $d) = call('H21010200011', 'GET', "/api/filing?project=$pid");
my @ev = @{ $d->{events} };
my ($asked) = grep { $_->{action} eq 'request_withdraw' } @ev;
my ($refused) = grep { $_->{action} eq 'refuse_withdraw' } @ev;
is($asked && $asked->{reason}, '第 2 行填错了', 'the hospital reads its request with its reason');
is($refused && $refused->{reason}, '已进入汇总，不同意撤回', '... and the refusal with the city\'s reason');
is($refused && "$refused->{from}>$refused->{to}", '撤回申请中>已提交', '... from which state to which');

# --- an approved filing, asked back and granted ---------------------------------

($st) = call('sy_admin', 'POST', '/api/review/act', { action => 'approve', ids => [$item + 0] });
is($st, 200, 'the city approves it');
($st) = hospital('/api/filing/withdraw', { project => $pid, reason => '需补充一个产品' });
is($st, 200, 'an approved filing can be asked back too');
($st, $d) = call('sy_admin', 'POST', '/api/review/act', { action => 'grant_withdraw', ids => [$item + 0] });
is($st, 200, 'the city grants it');
is(state_of(), 'draft', '... the filing is a draft again');
($st, $d) = hospital('/api/filing/save', { project => $pid, lines => [
    { catalog_line_id => $line{W002}, last_year => 5, demand => 5, in_use => 1 } ] });
is($st, 200, '... which the hospital changes');
is($d->{demand_total}, 16, '... the totals over both lines');
($st) = call('H21010200011', 'POST', "/api/files/upload?project=$pid&kind=summary", $pdf, 'application/octet-stream');
is($st, 201, '... signs its summary sheet again');
($st) = hospital('/api/filing/submit', { project => $pid, contact => '赵六', phone => '024-11112222' });
is($st, 200, '... and submits again');
is(vbp_sql("SELECT count(*) FROM audit_log WHERE target_id = '$item' AND action LIKE '%withdraw%'"),
   vbp_sql("SELECT count(*) FROM review_events WHERE item_id = $item AND action LIKE '%withdraw%'"),
   'every withdraw step is in the audit log as well');

vbp_sql("DELETE FROM projects WHERE id = $pid");

done_testing();
