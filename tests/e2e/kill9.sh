#!/bin/sh
# kill9.sh - kill -9 the broker at random moments, ROUNDS times, while N
# cases are submitted and worked. After each restart, every case whose
# SUBMIT_OK reached the client is in the database, no case is duplicated,
# and in the end every case is resolved.
. "$(dirname "$0")/../lib.sh"
N=${N:-2000}
ROUNDS=${ROUNDS:-20}
SEED=${SEED:-$(date +%s)}
diag "seed $SEED (SEED=$SEED ROUNDS=$ROUNDS N=$N sh $0 reproduces the pauses)"
write_config
start_broker || exit 1
for d in water urban traffic security hrss dispatch; do start_worker $d $d -c 16; done
"$BIN/loadgen" -e "ipc://$T/intake.sock" -n "$N" -r $((N / 15)) -o "$T/acks.txt" -t 300 \
  -c water.leak,road.pothole,noise.night,wage.arrears,water.outage,streetlight.out \
  >"$T/loadgen.out" 2>&1 &
LOADGEN=$!
PIDS="$PIDS $LOADGEN"

# acked_are_stored: every "external_id case_id" the client was told is in the database
acked_are_stored() {
  sort -u "$T/acks.txt" | awk '{ print $1, $2 }' > "$T/acked.txt"
  sql "select external_id, id from cases" | tr '|' ' ' | sort > "$T/stored.txt"
  [ -z "$(comm -23 "$T/acked.txt" "$T/stored.txt")" ]
}

lost=0
pauses=$(awk -v s="$SEED" -v n="$ROUNDS" 'BEGIN { srand(s); for (i = 0; i < n; i++) printf "%.2f ", 0.1 + rand() * 0.7 }')
for p in $pauses; do
  sleep "$p"
  kill9 "$BROKER_PID"
  start_broker || { not_ok "broker restarts after kill -9"; break; }
  acked_are_stored || lost=$((lost + 1))
done
check "$ROUNDS rounds of kill -9: every acknowledged case was in the database after each restart" test $lost = 0
wait "$LOADGEN"
check "loadgen: all $N submissions acknowledged across the kills" test $? = 0
diag "$(cat "$T/loadgen.out")"
check "all $N cases resolved in the end" wait_for 120 all_resolved "$N"
check "every acknowledged case is stored under the id the client was told" acked_are_stored
check "no case is duplicated: $N submissions, $N cases" test "$(sql 'select count(*) from cases')" = "$N"
bad=$(sql "select count(*) from (select case_id from events where kind = 'received' group by case_id having count(*) > 1)")
check "each case was received once ($bad twice)" test "$bad" = 0
check "$((ROUNDS + 1)) broker starts" test "$(ready_count)" = $((ROUNDS + 1))
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
