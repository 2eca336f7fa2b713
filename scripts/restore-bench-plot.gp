# The restore benchmark: per source latency (one row of kvmuf-restore-bench --dat per
# --label), the guest's working-set time and the time until all memory was present,
# kvm-userfault against userfaultfd, replay off and on.
#   gnuplot -e "dat='restore-bench.dat'; png='restore-bench.png'; title='...'" scripts/restore-bench-plot.gp
# Columns: label, ws_kvmuf, ws_uffd, ws_kvmuf_replay, ws_uffd_replay, then present_* the
# same (milliseconds, NaN where skipped or never).
set terminal pngcairo size 1200,560 noenhanced font ",11"
set output png
set datafile separator "\t"
set datafile missing "NaN"
set grid
set key top left
set xlabel "page source latency per read"
set ylabel "milliseconds (median)"
set offsets 0.3, 0.3, 0, 0
set yrange [0:*]
set multiplot layout 1,2 title title
set title "guest touched its working set"
plot dat using 0:2:xtic(1) with linespoints lw 2 pt 7 lc 1 title "kvmuf", \
     ''  using 0:3 with linespoints lw 2 pt 5 lc 2 title "uffd", \
     ''  using 0:4 with linespoints lw 2 pt 7 dt 2 lc 1 title "kvmuf, replay", \
     ''  using 0:5 with linespoints lw 2 pt 5 dt 2 lc 2 title "uffd, replay"
set title "all memory present"
plot dat using 0:6:xtic(1) with linespoints lw 2 pt 7 lc 1 title "kvmuf", \
     ''  using 0:7 with linespoints lw 2 pt 5 lc 2 title "uffd", \
     ''  using 0:8 with linespoints lw 2 pt 7 dt 2 lc 1 title "kvmuf, replay", \
     ''  using 0:9 with linespoints lw 2 pt 5 dt 2 lc 2 title "uffd, replay"
unset multiplot
