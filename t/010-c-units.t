# The C units that run without nginx: the template engine, the captcha
# image and the worker's per-call JSON memory (each a TAP program built by
# make), re-reported here.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use VBP::Test;

for my $prog (qw(template_test captcha_test jpool_test)) {
    my $bin = "$VbpTop/build/$prog";
    ok(-x $bin, "$prog is built") or next;
    my @out = `cd $VbpTop && $bin 2>&1`;
    my $status = $?;
    my @fail = grep { /^not ok/ } @out;
    my $n = grep { /^ok / } @out;
    ok($n > 0, "$prog ran $n checks");
    is(scalar @fail, 0, "$prog: no failure") or diag(@fail);
    is($status, 0, "$prog exited 0");
}

done_testing();
