;; Attention (the kernel table's AttentionArgs), float32: windowed causal keys plus, optionally,
;; the masked memory slots of each query's chunk; GQA (query head h reads kv head
;; h / (heads / kvHeads)). A query row's visible keys are listed in the thread's scratch — the
;; chunk's memory slots first (masked ones as −Infinity), then the in-context keys
;; p − window < j ≤ p — so the softmax runs as three vector passes: scores, exp, accumulate.
;;
;; Arguments (i32 slots unless noted) shared by attn_fwd and attn_bwd:
;;   0 q, 4 k, 8 v, 12 out, 16 lse, 20 memory k (0: no memory), 24 memory v, 28 memory mask,
;;   32 chunks, 36 slots, 40 chunkSize, 44 heads, 48 kvHeads, 52 Lq, 56 Lk, 60 Dh,
;;   64 window (≤ Lk), 68 queryOffset, 72 scale (f32), 76 scratch, 80 scratch bytes per thread.
;; attn_bwd adds 84 dOut, 88 dq, 92 dk, 96 dv, 100 dMemK, 104 dMemV.

;; Writes the scaled scores of row r's visible keys to s[0 .. count) (−Infinity for masked memory
;; slots) and −Infinity to the next three floats; returns count. With $sub, lse[r] is subtracted
;; (the backward pass's log-probabilities) and dp[t] = dOut_r · v_t is written too.
;; Sets the globals the later passes read: the row's key/value bases and its first key.
(global $att_mk (mut i32) (i32.const 0))
(global $att_mv (mut i32) (i32.const 0))
(global $att_mask (mut i32) (i32.const 0))
(global $att_kv (mut i32) (i32.const 0))
(global $att_slots (mut i32) (i32.const 0))
(global $att_j0 (mut i32) (i32.const 0))

(func $att_scores (param $args i32) (param $r i32) (param $s i32) (param $bwd i32) (param $dp i32)
  (result i32)
  (local $H i32) (local $Lq i32) (local $Dh i32) (local $b i32) (local $h i32) (local $g i32)
  (local $pos i32) (local $chunk i32) (local $bg i32) (local $qp i32) (local $op i32)
  (local $t i32) (local $n i32) (local $j i32) (local $row i32) (local $scale f32) (local $off f32)
  (local $kp i32) (local $vp i32) (local $rowb i32)
  (local.set $H (i32.load offset=44 (local.get $args)))
  (local.set $Lq (i32.load offset=52 (local.get $args)))
  (local.set $Dh (i32.load offset=60 (local.get $args)))
  (local.set $scale (f32.load offset=72 (local.get $args)))
  (local.set $rowb (i32.shl (local.get $Dh) (i32.const 2)))
  (local.set $b (i32.div_u (local.get $r) (i32.mul (local.get $H) (local.get $Lq))))
  (local.set $h (i32.rem_u (i32.div_u (local.get $r) (local.get $Lq)) (local.get $H)))
  (local.set $g (i32.div_u (local.get $h)
    (i32.div_u (local.get $H) (i32.load offset=48 (local.get $args)))))
  (local.set $bg (i32.add (i32.mul (local.get $b) (i32.load offset=48 (local.get $args))) (local.get $g)))
  (local.set $pos (i32.add (i32.load offset=68 (local.get $args)) (i32.rem_u (local.get $r) (local.get $Lq))))
  (local.set $qp (i32.add (i32.load (local.get $args)) (i32.mul (local.get $r) (local.get $rowb))))
  (local.set $op (i32.add (i32.load offset=84 (local.get $args)) (i32.mul (local.get $r) (local.get $rowb))))
  (if (local.get $bwd)
    (then (local.set $off (f32.load (i32.add (i32.load offset=16 (local.get $args)) (i32.shl (local.get $r) (i32.const 2)))))))
  (global.set $att_slots (i32.const 0))
  (if (i32.load offset=20 (local.get $args))
    (then
      (global.set $att_slots (local.tee $n (i32.load offset=36 (local.get $args))))
      (local.set $chunk (i32.div_u (local.get $pos) (i32.load offset=40 (local.get $args))))
      (global.set $att_mask (i32.add (i32.load offset=28 (local.get $args)) (i32.shl
        (i32.mul (i32.add (i32.mul (local.get $b) (i32.load offset=32 (local.get $args))) (local.get $chunk)) (local.get $n))
        (i32.const 2))))
      (local.set $row (i32.mul (i32.mul
        (i32.add (i32.mul (local.get $bg) (i32.load offset=32 (local.get $args))) (local.get $chunk))
        (local.get $n)) (local.get $rowb)))
      (global.set $att_mk (i32.add (i32.load offset=20 (local.get $args)) (local.get $row)))
      (global.set $att_mv (i32.add (i32.load offset=24 (local.get $args)) (local.get $row)))
      (block $done
        (br_if $done (i32.eqz (local.get $n)))
        (loop $slots
          (if (i32.load (i32.add (global.get $att_mask) (i32.shl (local.get $t) (i32.const 2))))
            (then
              (local.set $kp (i32.add (global.get $att_mk) (i32.mul (local.get $t) (local.get $rowb))))
              (f32.store (i32.add (local.get $s) (i32.shl (local.get $t) (i32.const 2)))
                (f32.sub (f32.mul (local.get $scale) (call $dot (local.get $qp) (local.get $kp) (local.get $Dh))) (local.get $off)))
              (if (local.get $bwd) (then
                (f32.store (i32.add (local.get $dp) (i32.shl (local.get $t) (i32.const 2)))
                  (call $dot (local.get $op) (i32.add (global.get $att_mv) (i32.mul (local.get $t) (local.get $rowb))) (local.get $Dh))))))
            (else
              (f32.store (i32.add (local.get $s) (i32.shl (local.get $t) (i32.const 2))) (f32.const -inf))
              (if (local.get $bwd) (then
                (f32.store (i32.add (local.get $dp) (i32.shl (local.get $t) (i32.const 2))) (f32.const 0))))))
          (br_if $slots (i32.lt_u (local.tee $t (i32.add (local.get $t) (i32.const 1))) (local.get $n)))))))
  ;; In-context keys j0 ≤ j ≤ pos.
  (local.set $j (i32.sub (i32.add (local.get $pos) (i32.const 1)) (i32.load offset=64 (local.get $args))))
  (if (i32.lt_s (local.get $j) (i32.const 0)) (then (local.set $j (i32.const 0))))
  (global.set $att_j0 (local.get $j))
  (global.set $att_kv (i32.mul (i32.add (i32.mul (local.get $bg) (i32.load offset=56 (local.get $args))) (local.get $j)) (local.get $rowb)))
  (local.set $kp (i32.add (i32.load offset=4 (local.get $args)) (global.get $att_kv)))
  (local.set $vp (i32.add (i32.load offset=8 (local.get $args)) (global.get $att_kv)))
  (loop $keys
    (f32.store (i32.add (local.get $s) (i32.shl (local.get $t) (i32.const 2)))
      (f32.sub (f32.mul (local.get $scale) (call $dot (local.get $qp) (local.get $kp) (local.get $Dh))) (local.get $off)))
    (if (local.get $bwd) (then
      (f32.store (i32.add (local.get $dp) (i32.shl (local.get $t) (i32.const 2)))
        (call $dot (local.get $op) (local.get $vp) (local.get $Dh)))))
    (local.set $kp (i32.add (local.get $kp) (local.get $rowb)))
    (local.set $vp (i32.add (local.get $vp) (local.get $rowb)))
    (local.set $t (i32.add (local.get $t) (i32.const 1)))
    (br_if $keys (i32.le_s (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $pos))))
  (v128.store (i32.add (local.get $s) (i32.shl (local.get $t) (i32.const 2))) (v128.const f32x4 -inf -inf -inf -inf))
  (local.get $t))

;; Byte offset of the value (or key) row of visible key t, given the bases $att_scores set.
(func $att_row (param $base i32) (param $mem i32) (param $t i32) (param $rowb i32) (result i32)
  (if (result i32) (i32.lt_u (local.get $t) (global.get $att_slots))
    (then (i32.add (local.get $mem) (i32.mul (local.get $t) (local.get $rowb))))
    (else (i32.add (i32.add (local.get $base) (global.get $att_kv))
      (i32.mul (i32.sub (local.get $t) (global.get $att_slots)) (local.get $rowb))))))

;; s[t] = exp(s[t] − max) for t < count (+ padding to four), 0 where s[t] = −Infinity; returns
;; the sum of the first count.
(func $att_exp (param $s i32) (param $count i32) (param $max f32) (result f32)
  (local $end i32) (local $x v128) (local $e v128) (local $sum v128) (local $mv v128)
  (local.set $mv (f32x4.splat (local.get $max)))
  (local.set $end (i32.add (local.get $s) (i32.shl (local.get $count) (i32.const 2))))
  (loop $v
    (local.set $x (v128.load (local.get $s)))
    (local.set $e (v128.and (call $vexp (f32x4.sub (local.get $x) (local.get $mv)))
      (f32x4.gt (local.get $x) (v128.const f32x4 -inf -inf -inf -inf))))
    (v128.store (local.get $s) (local.get $e))
    (local.set $sum (f32x4.add (local.get $sum) (local.get $e)))
    (br_if $v (i32.lt_u (local.tee $s (i32.add (local.get $s) (i32.const 16))) (local.get $end))))
  (call $hsum (local.get $sum)))

;; Largest of s[0 .. count).
(func $att_max (param $s i32) (param $count i32) (result f32)
  (local $end i32) (local $m v128)
  (local.set $m (v128.const f32x4 -inf -inf -inf -inf))
  (local.set $end (i32.add (local.get $s) (i32.shl (local.get $count) (i32.const 2))))
  (loop $v
    (local.set $m (f32x4.max (local.get $m) (v128.load (local.get $s))))
    (br_if $v (i32.lt_u (local.tee $s (i32.add (local.get $s) (i32.const 16))) (local.get $end))))
  (f32.max
    (f32.max (f32x4.extract_lane 0 (local.get $m)) (f32x4.extract_lane 1 (local.get $m)))
    (f32.max (f32x4.extract_lane 2 (local.get $m)) (f32x4.extract_lane 3 (local.get $m)))))

;; attn_fwd(args, begin, end, tid): query rows r = (b·heads + h)·Lq + i in [begin, end).
(func $attn_fwd (export "attn_fwd") (param $args i32) (param $begin i32) (param $end i32) (param $tid i32)
  (local $s i32) (local $count i32) (local $max f32) (local $sum f32) (local $op i32)
  (local $Dh i32) (local $rowb i32) (local $t i32) (local $p f32)
  (local.set $Dh (i32.load offset=60 (local.get $args)))
  (local.set $rowb (i32.shl (local.get $Dh) (i32.const 2)))
  (local.set $s (i32.add (i32.load offset=76 (local.get $args))
    (i32.mul (local.get $tid) (i32.load offset=80 (local.get $args)))))
  (block $done
    (loop $rows
      (br_if $done (i32.ge_u (local.get $begin) (local.get $end)))
      (local.set $count (call $att_scores (local.get $args) (local.get $begin) (local.get $s) (i32.const 0) (i32.const 0)))
      (local.set $max (call $att_max (local.get $s) (local.get $count)))
      (local.set $sum (call $att_exp (local.get $s) (local.get $count) (local.get $max)))
      (local.set $op (i32.add (i32.load offset=12 (local.get $args)) (i32.mul (local.get $begin) (local.get $rowb))))
      (call $zero (local.get $op) (local.get $Dh))
      (local.set $t (i32.const 0))
      (loop $keys
        (if (f32.ne (local.tee $p (f32.load (i32.add (local.get $s) (i32.shl (local.get $t) (i32.const 2))))) (f32.const 0))
          (then (call $axpy (local.get $p)
            (call $att_row (i32.load offset=8 (local.get $args)) (global.get $att_mv) (local.get $t) (local.get $rowb))
            (local.get $op) (local.get $Dh))))
        (br_if $keys (i32.lt_u (local.tee $t (i32.add (local.get $t) (i32.const 1))) (local.get $count))))
      (call $scale (f32.div (f32.const 1) (local.get $sum)) (local.get $op) (local.get $Dh))
      (f32.store (i32.add (i32.load offset=16 (local.get $args)) (i32.shl (local.get $begin) (i32.const 2)))
        (f32.add (local.get $max) (f32x4.extract_lane 0 (call $vlog (f32x4.splat (local.get $sum))))))
      (local.set $begin (i32.add (local.get $begin) (i32.const 1)))
      (br $rows))))

;; attn_bwd(args, begin, end, tid): tasks are (b, kv head) pairs, t = b·kvHeads + g; each zeroes
;; its slices of dk, dv (and dMemK, dMemV), then backpropagates every query row of the query heads
;; that read kv head g, so no two tasks write the same kv gradient.
(func $attn_bwd (export "attn_bwd") (param $args i32) (param $begin i32) (param $end i32) (param $tid i32)
  (local $s i32) (local $dp i32) (local $count i32) (local $Dh i32) (local $rowb i32) (local $Lq i32)
  (local $hp i32) (local $r i32) (local $rend i32) (local $t i32) (local $p f32) (local $ds f32)
  (local $dd f32) (local $qp i32) (local $op i32) (local $dqp i32) (local $kvn i32) (local $memn i32)
  (local $b i32) (local $g i32) (local $Hkv i32) (local $x v128) (local $end4 i32) (local $kr i32)
  (local $mk i32) (local $mv i32) (local $scalev v128) (local $ddv v128) (local $pv v128) (local $dpp i32) (local $sp i32)
  (local.set $Dh (i32.load offset=60 (local.get $args)))
  (local.set $rowb (i32.shl (local.get $Dh) (i32.const 2)))
  (local.set $Lq (i32.load offset=52 (local.get $args)))
  (local.set $Hkv (i32.load offset=48 (local.get $args)))
  (local.set $hp (i32.div_u (i32.load offset=44 (local.get $args)) (local.get $Hkv)))
  (local.set $scalev (f32x4.splat (f32.load offset=72 (local.get $args))))
  (local.set $s (i32.add (i32.load offset=76 (local.get $args))
    (i32.mul (local.get $tid) (i32.load offset=80 (local.get $args)))))
  (local.set $dp (i32.add (local.get $s) (i32.shr_u (i32.load offset=80 (local.get $args)) (i32.const 1))))
  (local.set $kvn (i32.mul (i32.load offset=56 (local.get $args)) (local.get $Dh)))
  (if (i32.load offset=20 (local.get $args))
    (then (local.set $memn (i32.mul (i32.mul (i32.load offset=32 (local.get $args)) (i32.load offset=36 (local.get $args))) (local.get $Dh)))))
  (block $done
    (loop $tasks
      (br_if $done (i32.ge_u (local.get $begin) (local.get $end)))
      (call $zero (i32.add (i32.load offset=92 (local.get $args)) (i32.shl (i32.mul (local.get $begin) (local.get $kvn)) (i32.const 2))) (local.get $kvn))
      (call $zero (i32.add (i32.load offset=96 (local.get $args)) (i32.shl (i32.mul (local.get $begin) (local.get $kvn)) (i32.const 2))) (local.get $kvn))
      (if (local.get $memn) (then
        (call $zero (i32.add (i32.load offset=100 (local.get $args)) (i32.shl (i32.mul (local.get $begin) (local.get $memn)) (i32.const 2))) (local.get $memn))
        (call $zero (i32.add (i32.load offset=104 (local.get $args)) (i32.shl (i32.mul (local.get $begin) (local.get $memn)) (i32.const 2))) (local.get $memn))))
      (local.set $b (i32.div_u (local.get $begin) (local.get $Hkv)))
      (local.set $g (i32.rem_u (local.get $begin) (local.get $Hkv)))
      ;; Rows of heads g·hp … (g+1)·hp − 1 of batch element b are contiguous.
      (local.set $r (i32.mul (i32.add (i32.mul (local.get $b) (i32.load offset=44 (local.get $args)))
        (i32.mul (local.get $g) (local.get $hp))) (local.get $Lq)))
      (local.set $rend (i32.add (local.get $r) (i32.mul (local.get $hp) (local.get $Lq))))
      (block $rowsdone
        (br_if $rowsdone (i32.ge_u (local.get $r) (local.get $rend)))
        (loop $rows
          (local.set $qp (i32.add (i32.load (local.get $args)) (i32.mul (local.get $r) (local.get $rowb))))
          (local.set $op (i32.add (i32.load offset=84 (local.get $args)) (i32.mul (local.get $r) (local.get $rowb))))
          (local.set $dqp (i32.add (i32.load offset=88 (local.get $args)) (i32.mul (local.get $r) (local.get $rowb))))
          (local.set $dd (call $dot (local.get $op)
            (i32.add (i32.load offset=12 (local.get $args)) (i32.mul (local.get $r) (local.get $rowb))) (local.get $Dh)))
          (local.set $count (call $att_scores (local.get $args) (local.get $r) (local.get $s) (i32.const 1) (local.get $dp)))
          ;; p = exp(s) (0 where masked); ds = scale · p · (dp − D), in place of dp.
          (local.set $ddv (f32x4.splat (local.get $dd)))
          (local.set $sp (local.get $s))
          (local.set $dpp (local.get $dp))
          (local.set $end4 (i32.add (local.get $s) (i32.shl (local.get $count) (i32.const 2))))
          (loop $v
            (local.set $x (v128.load (local.get $sp)))
            (local.set $pv (v128.and (call $vexp (local.get $x))
              (f32x4.gt (local.get $x) (v128.const f32x4 -inf -inf -inf -inf))))
            (v128.store (local.get $sp) (local.get $pv))
            (v128.store (local.get $dpp) (f32x4.mul (local.get $scalev)
              (f32x4.mul (local.get $pv) (f32x4.sub (v128.load (local.get $dpp)) (local.get $ddv)))))
            (local.set $dpp (i32.add (local.get $dpp) (i32.const 16)))
            (br_if $v (i32.lt_u (local.tee $sp (i32.add (local.get $sp) (i32.const 16))) (local.get $end4))))
          (call $zero (local.get $dqp) (local.get $Dh))
          (local.set $t (i32.const 0))
          (loop $keys
            (if (if (result i32) (i32.lt_u (local.get $t) (global.get $att_slots))
                  (then (i32.load (i32.add (global.get $att_mask) (i32.shl (local.get $t) (i32.const 2)))))
                  (else (i32.const 1)))
              (then
                (local.set $p (f32.load (i32.add (local.get $s) (i32.shl (local.get $t) (i32.const 2)))))
                (local.set $ds (f32.load (i32.add (local.get $dp) (i32.shl (local.get $t) (i32.const 2)))))
                (if (i32.lt_u (local.get $t) (global.get $att_slots))
                  (then
                    (local.set $kr (i32.add (global.get $att_mk) (i32.mul (local.get $t) (local.get $rowb))))
                    (local.set $mk (i32.sub (i32.add (i32.load offset=100 (local.get $args)) (local.get $kr)) (i32.load offset=20 (local.get $args))))
                    (local.set $mv (i32.sub (i32.add (i32.load offset=104 (local.get $args)) (local.get $kr)) (i32.load offset=20 (local.get $args)))))
                  (else
                    (local.set $kr (call $att_row (i32.load offset=4 (local.get $args)) (i32.const 0) (local.get $t) (local.get $rowb)))
                    (local.set $mk (i32.add (i32.load offset=92 (local.get $args)) (i32.sub (local.get $kr) (i32.load offset=4 (local.get $args)))))
                    (local.set $mv (i32.add (i32.load offset=96 (local.get $args)) (i32.sub (local.get $kr) (i32.load offset=4 (local.get $args)))))))
                (call $axpy (local.get $p) (local.get $op) (local.get $mv) (local.get $Dh))
                (call $axpy (local.get $ds) (local.get $kr) (local.get $dqp) (local.get $Dh))
                (call $axpy (local.get $ds) (local.get $qp) (local.get $mk) (local.get $Dh))))
            (br_if $keys (i32.lt_u (local.tee $t (i32.add (local.get $t) (i32.const 1))) (local.get $count))))
          (br_if $rows (i32.lt_u (local.tee $r (i32.add (local.get $r) (i32.const 1))) (local.get $rend)))))
      (local.set $begin (i32.add (local.get $begin) (i32.const 1)))
      (br $tasks))))
