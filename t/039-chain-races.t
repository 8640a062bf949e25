# The chain's guards under races: a transition whose guard reads another
# level ('parent_open': the level above has not submitted; 'children_done':
# every item below is done) and the transition of that other level, sent at
# the same moment, many times.  Exactly one of the two may win, and what
# stays behind must hold: a submitted level has nothing below it that is
# not 审核通过 or 无需上报.  Each pair starts from the same line (vbp_race:
# a session holds the rows both sides lock, then lets them go at once).

use strict;
use utf8;
use warnings;
use lib 't/lib';
use VBP::Test;
use Test::More;

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);
my $base = vbp_nginx_start();
END { vbp_nginx_stop() }
my $pw = 'Race@Test2026';
my $rounds = $ENV{VBP_RACE_ROUNDS} // ($ENV{TEST_NGINX_USE_VALGRIND} ? 3 : 10);

my %as = vbp_sign_in($pw, qw(sy_admin ln_admin H21010200011));
# a second session of the city's clerk, at another desk
my $t = vbp_setup("login sy_admin $pw");
my $sy2 = { sid => $t->{'@SID@'}, csrf => $t->{'@CSRF@'} };

my $pid = vbp_open_project('t39 并发', 'R', 4, 2);
my ($prov) = vbp_sql("SELECT i.id FROM review_items i JOIN regions r ON r.id = i.region_id"
                     . " WHERE i.project_id = $pid AND r.code = '210000'");
my ($city) = vbp_sql("SELECT i.id FROM review_items i JOIN regions r ON r.id = i.region_id"
                     . " WHERE i.project_id = $pid AND r.code = '210100' AND i.level = 'city'");
my ($other) = vbp_sql("SELECT i.id FROM review_items i JOIN regions r ON r.id = i.region_id"
                      . " WHERE i.project_id = $pid AND r.code = '210200' AND i.level = 'city'");
my ($hosp) = vbp_sql("SELECT i.id FROM review_items i JOIN orgs o ON o.id = i.org_id"
                     . " WHERE i.project_id = $pid AND o.code = 'H21010200011'");
ok $prov && $city && $other && $hosp, 'a project of Liaoning with its items';

# the province's stamped summary, so that its 提交 is judged on the cities
vbp_sql("INSERT INTO uploads (sha256, bytes, content_type) VALUES (repeat('e', 64), 1, 'application/pdf')"
        . " ON CONFLICT DO NOTHING");
# (signed after every save the rounds make: never stale)
vbp_sql("INSERT INTO item_files (item_id, kind, sha256, filename, uploaded_at) VALUES ($prov, 'province_summary',"
        . " repeat('e', 64), 'summary.pdf', 'infinity')");

# every hospital approved (or as SQL says), every city as CITIES says, the
# province pending
sub reset_states {
    my ($hospitals, $cities) = @_;
    vbp_sql("UPDATE review_items SET state = 'approved', state_before = 'submitted'"
            . " WHERE project_id = $pid AND level = 'hospital'");
    vbp_sql($hospitals) if $hospitals;
    vbp_sql("UPDATE review_items SET state = '$cities', state_before = 'pending'"
            . " WHERE project_id = $pid AND level = 'city'");
    vbp_sql("UPDATE review_items SET state = 'pending', state_before = NULL"
            . " WHERE project_id = $pid AND level = 'province'");
}

# a level that submitted (or was approved) over an item that is not done
sub broken {
    return vbp_sql("SELECT count(*) FROM review_items p JOIN review_items c ON c.parent_id = p.id"
                   . " WHERE p.project_id = $pid AND p.state IN ('submitted', 'approved')"
                   . " AND c.state NOT IN ('approved', 'exempt')");
}

sub race {
    my ($name, $lock_ids, $setup, $reqs, $after) = @_;
    my %wins;
    my $bad = 0;
    for my $round (1 .. $rounds) {
        $setup->();
        my @a = vbp_race("SELECT 1 FROM review_items WHERE id IN ($lock_ids) FOR UPDATE", @$reqs);
        my @st = map { $_->[0] } @a;
        my $ok = grep { $_ == 200 } @st;
        my $refused = grep { $_ == 409 } @st;
        $bad++ unless $ok == 1 && $refused == 1;
        diag("$name, round $round: @st") unless $ok == 1 && $refused == 1;
        $wins{join ',', @st}++;
        $bad++ if broken();
        $after->(\@st) if $after;
    }
    is $bad, 0, "$name: exactly one of the two wins in each of $rounds rounds, and nothing"
        . " submitted stands over an item not done (" . join('; ', map { "$_ x$wins{$_}" } sort keys %wins) . ')';
}

# --- a hospital's 撤回申请 against its city's 提交 ----------------------------

my $stuck = 0;
race('撤回申请 vs 提交', "$hosp, $city",
     sub { reset_states(undef, 'pending') },
     [[$base, $as{H21010200011}, 'POST', '/api/filing/withdraw', { project => $pid, reason => '数据有误' }],
      [$base, $as{sy_admin}, 'POST', '/api/review/submit', { project => $pid }]],
     sub {
         my ($st) = @_;
         return unless $st->[0] == 200;
         # the request is the city's to decide, never stuck behind a lock
         my ($s) = vbp_api($base, $as{sy_admin}, 'POST', '/api/review/act',
                           { action => 'refuse_withdraw', ids => [$hosp], reason => '不同意' });
         $stuck++ unless $s == 200;
     });
is $stuck, 0, '... a withdrawal request that won is decided by the city afterwards';

# --- a second session's 审核撤回 against 提交 ----------------------------------

race('审核撤回 vs 提交', "$hosp, $city",
     sub { reset_states(undef, 'pending') },
     [[$base, $sy2, 'POST', '/api/review/act', { action => 'revoke', ids => [$hosp] }],
      [$base, $as{sy_admin}, 'POST', '/api/review/submit', { project => $pid }]]);

# --- 上报 of an exempt hospital (back to its draft) against 提交 -------------

race('上报 vs 提交', "$hosp, $city",
     sub { reset_states("UPDATE review_items SET state = 'exempt', state_before = 'draft' WHERE id = $hosp", 'pending') },
     [[$base, $sy2, 'POST', '/api/review/act', { action => 'include', ids => [$hosp] }],
      [$base, $as{sy_admin}, 'POST', '/api/review/submit', { project => $pid }]]);

# --- a province's 审核撤回 of a city against the province's 提交 -------------

race('省级审核撤回 vs 省级提交', "$city, $prov",
     sub { reset_states(undef, 'approved') },
     [[$base, $as{ln_admin}, 'POST', '/api/review/act', { action => 'revoke', ids => [$city] }],
      [$base, $as{ln_admin}, 'POST', '/api/review/submit', { project => $pid }]]);

# --- a city's 撤回 of its submission against the province's approval -------

race('市级撤回上报 vs 省级审核通过', "$city",
     sub { reset_states(undef, 'approved');
           vbp_sql("UPDATE review_items SET state = 'submitted' WHERE id = $city") },
     [[$base, $as{sy_admin}, 'POST', '/api/review/withdraw', { project => $pid }],
      [$base, $as{ln_admin}, 'POST', '/api/review/act', { action => 'approve', ids => [$city] }]]);

# --- two 暂存 of one filing at once (two desks of the hospital) ------------
# a save moves the filing's totals by what its page's lines held: the
# second must read what the first committed (its lines statement runs
# after the filing's row is locked), or the totals drift from the lines

{
    my $t2 = vbp_setup("login H21010200011 $pw");
    my $h2 = { sid => $t2->{'@SID@'}, csrf => $t2->{'@CSRF@'} };
    my @lines = vbp_sql("SELECT id FROM catalog_lines WHERE project_id = $pid ORDER BY id LIMIT 4");
    my ($drift, $failed) = (0, 0);
    for my $round (1 .. $rounds) {
        reset_states("UPDATE review_items SET state = 'draft', state_before = 'unfiled' WHERE id = $hosp",
                     'pending');
        my @a = vbp_race("SELECT 1 FROM review_items WHERE id = $hosp FOR UPDATE",
            [$base, $as{H21010200011}, 'POST', '/api/filing/save', { project => $pid, lines => [
                map { { catalog_line_id => $_, last_year => 10 + $round, demand => 20 + $round, in_use => 1 } }
                    @lines[0 .. 2] ] }],
            [$base, $h2, 'POST', '/api/filing/save', { project => $pid, lines => [
                { catalog_line_id => $lines[0] },
                map { { catalog_line_id => $_, last_year => 30 + $round, demand => 45 + $round, in_use => 1 } }
                    @lines[1 .. 3] ] }]);
        $failed++ if grep { $_->[0] != 200 } @a;
        $drift += vbp_sql("SELECT count(*) FROM filings f, (SELECT coalesce(sum(l.last_year), 0) AS ly,"
            . " coalesce(sum(l.demand), 0) AS dm, count(*) AS n FROM filing_lines l WHERE l.item_id = $hosp) l"
            . " WHERE f.item_id = $hosp AND (f.last_year_total, f.demand_total, f.lines) <> (l.ly, l.dm, l.n)");
    }
    is $failed, 0, "two saves of one filing at once: both saved in each of $rounds rounds";
    is $drift, 0, '... and the totals are the sum of its lines after every round';
}

# the confirmation page agrees with the chain after all of it
reset_states(undef, 'pending');
my ($st, $d) = vbp_api($base, $as{sy_admin}, 'GET', "/api/review/confirm?project=$pid");
is $d->{confirm}{blocking}, 0, 'the confirmation page counts no blocker where every hospital is approved';

vbp_sql("DELETE FROM projects WHERE id = $pid");
done_testing();
