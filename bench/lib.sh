# Shell helpers shared by the benchmarks (sourced).

# utime+stime, in clock ticks, of process $1 and all its descendants.
# The stat files go through cat: a process that ends between the glob and
# the read only drops its own line (awk, mawk at least, gives up on the
# first file it cannot open and printed nothing, so the CPU column came out
# 0 or negative while other processes started and ended).
tree_ticks() {
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" '{
        i = match($0, /\) [A-Za-z] /)      # the command name may hold spaces
        split(substr($0, i + 2), f, " ")   # f[1] state, f[2] ppid, f[12] utime, f[13] stime
        pid = $1 + 0; pp[pid] = f[2] + 0; t[pid] = f[12] + f[13]
    }
    END {
        in_tree[root] = 1; sum = t[root]
        do {
            more = 0
            for (p in pp) if (!(p in in_tree) && (pp[p] in in_tree)) { in_tree[p] = 1; sum += t[p]; more = 1 }
        } while (more)
        print sum
    }'
}
