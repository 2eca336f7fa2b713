# Pages/s against vCPUs, one line per mode, from kvmuf-bench --dat.
#   gnuplot -e "dat='bench.dat'; png='bench.png'; title='...'" scripts/bench-plot.gp
set terminal pngcairo size 960,600 noenhanced font ",11"
set output png
set title title
set xlabel "vCPUs"
set ylabel "overall demand paging rate (pages/s)"
set logscale x 2
set logscale y 10
set key outside right top
set grid
# The first line ("# vcpus<TAB>mode...") names the columns.
set datafile commentschars ""
set datafile separator "\t"
stats dat skip 1 nooutput
plot for [col=2:STATS_columns] dat using 1:col with linespoints lw 2 pt 7 title columnheader(col)
