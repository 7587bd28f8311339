;; Depthwise causal 1-D convolution (the kernel table's CausalConv1dArgs), float32, channels last,
;; four channels per f32x4 (the last group of channels uses partial loads and stores). A task is
;; (batch element b, group of four channels); the group's K taps are kept transposed in the
;; thread's scratch (w[j] = taps j of the four channels).
;;
;; Arguments (i32 slots) shared by conv_fwd and conv_bwd:
;;   0 x, 4 weight [C, K], 8 bias (0: none), 12 initialState (0: none), 16 out, 20 finalState
;;   (0: none; may equal initialState), 24 batch, 28 L, 32 C, 36 K, 40 silu flag, 44 scratch,
;;   48 scratch bytes per thread.
;; conv_bwd adds 52 dy, 56 dx, 60 dweight partials [batch, C, K], 64 dbias partials [batch, C],
;; 68 dInitialState (0: none).

;; Row i of the extended sequence [initialState; x] of batch element b, channels c0 … c0+k−1.
(func $conv_ext (param $args i32) (param $b i32) (param $i i32) (param $c0 i32) (param $k i32) (result v128)
  (local $hist i32) (local $C i32)
  (local.set $hist (i32.sub (i32.load offset=36 (local.get $args)) (i32.const 1)))
  (local.set $C (i32.load offset=32 (local.get $args)))
  (if (result v128) (i32.lt_s (local.get $i) (local.get $hist))
    (then
      (if (result v128) (i32.load offset=12 (local.get $args))
        (then (call $loadp (i32.add (i32.load offset=12 (local.get $args)) (i32.shl (i32.add
          (i32.mul (i32.add (i32.mul (local.get $b) (local.get $hist)) (local.get $i)) (local.get $C)) (local.get $c0)) (i32.const 2)))
          (local.get $k)))
        (else (v128.const f32x4 0 0 0 0))))
    (else
      (call $loadp (i32.add (i32.load (local.get $args)) (i32.shl (i32.add
        (i32.mul (i32.add (i32.mul (local.get $b) (i32.load offset=28 (local.get $args))) (i32.sub (local.get $i) (local.get $hist))) (local.get $C))
        (local.get $c0)) (i32.const 2)))
        (local.get $k)))))

;; Loads the group's taps transposed into w[0 .. K) and returns its bias (zeros when none).
(func $conv_taps (param $args i32) (param $c0 i32) (param $k i32) (param $w i32) (result v128)
  (local $j i32) (local $K i32)
  (local.set $K (i32.load offset=36 (local.get $args)))
  (loop $taps
    (v128.store (i32.add (local.get $w) (i32.shl (local.get $j) (i32.const 4)))
      (call $loadcol (i32.add (i32.load offset=4 (local.get $args))
        (i32.shl (i32.add (i32.mul (local.get $c0) (local.get $K)) (local.get $j)) (i32.const 2)))
        (i32.shl (local.get $K) (i32.const 2)) (local.get $k)))
    (br_if $taps (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $K))))
  (if (result v128) (i32.load offset=8 (local.get $args))
    (then (call $loadp (i32.add (i32.load offset=8 (local.get $args)) (i32.shl (local.get $c0) (i32.const 2))) (local.get $k)))
    (else (v128.const f32x4 0 0 0 0))))

;; Pre-activation of (b, t) for the group: bias + Σ_j w[j] · ext[t + j].
(func $conv_pre (param $args i32) (param $b i32) (param $t i32) (param $c0 i32) (param $k i32) (param $w i32) (param $bias v128) (result v128)
  (local $j i32) (local $K i32) (local $acc v128)
  (local.set $K (i32.load offset=36 (local.get $args)))
  (local.set $acc (local.get $bias))
  (loop $taps
    (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
      (v128.load (i32.add (local.get $w) (i32.shl (local.get $j) (i32.const 4))))
      (call $conv_ext (local.get $args) (local.get $b) (i32.add (local.get $t) (local.get $j)) (local.get $c0) (local.get $k)))))
    (br_if $taps (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $K))))
  (local.get $acc))

;; conv_fwd(args, begin, end, tid): tasks (b, group), t = b·groups + group.
(func $conv_fwd (export "conv_fwd") (param $args i32) (param $begin i32) (param $end i32) (param $tid i32)
  (local $w i32) (local $groups i32) (local $b i32) (local $c0 i32) (local $k i32) (local $t i32)
  (local $L i32) (local $C i32) (local $hist i32) (local $bias v128) (local $pre v128) (local $fin i32)
  (local.set $L (i32.load offset=28 (local.get $args)))
  (local.set $C (i32.load offset=32 (local.get $args)))
  (local.set $hist (i32.sub (i32.load offset=36 (local.get $args)) (i32.const 1)))
  (local.set $fin (i32.load offset=20 (local.get $args)))
  (local.set $groups (i32.shr_u (i32.add (local.get $C) (i32.const 3)) (i32.const 2)))
  (local.set $w (i32.add (i32.load offset=44 (local.get $args))
    (i32.mul (local.get $tid) (i32.load offset=48 (local.get $args)))))
  (block $done
    (loop $tasks
      (br_if $done (i32.ge_u (local.get $begin) (local.get $end)))
      (local.set $b (i32.div_u (local.get $begin) (local.get $groups)))
      (local.set $c0 (i32.shl (i32.rem_u (local.get $begin) (local.get $groups)) (i32.const 2)))
      (local.set $k (i32.sub (local.get $C) (local.get $c0)))
      (local.set $bias (call $conv_taps (local.get $args) (local.get $c0) (local.get $k) (local.get $w)))
      (local.set $t (i32.const 0))
      (block $tdone
        (br_if $tdone (i32.eqz (local.get $L)))
        (loop $times
          (local.set $pre (call $conv_pre (local.get $args) (local.get $b) (local.get $t) (local.get $c0) (local.get $k) (local.get $w) (local.get $bias)))
          (if (i32.load offset=40 (local.get $args))
            (then (local.set $pre (f32x4.mul (local.get $pre) (call $vsigmoid (local.get $pre))))))
          (call $storep (i32.add (i32.load offset=16 (local.get $args)) (i32.shl (i32.add
            (i32.mul (i32.add (i32.mul (local.get $b) (local.get $L)) (local.get $t)) (local.get $C)) (local.get $c0)) (i32.const 2)))
            (local.get $pre) (local.get $k))
          (br_if $times (i32.lt_u (local.tee $t (i32.add (local.get $t) (i32.const 1))) (local.get $L)))))
      ;; finalState[b, r] = ext[L + r]; rows are read ahead of the row written (in place is safe).
      (if (i32.and (i32.ne (local.get $fin) (i32.const 0)) (i32.gt_s (local.get $hist) (i32.const 0)))
        (then
          (local.set $t (i32.const 0))
          (loop $rows
            (call $storep (i32.add (local.get $fin) (i32.shl (i32.add
              (i32.mul (i32.add (i32.mul (local.get $b) (local.get $hist)) (local.get $t)) (local.get $C)) (local.get $c0)) (i32.const 2)))
              (call $conv_ext (local.get $args) (local.get $b) (i32.add (local.get $L) (local.get $t)) (local.get $c0) (local.get $k))
              (local.get $k))
            (br_if $rows (i32.lt_u (local.tee $t (i32.add (local.get $t) (i32.const 1))) (local.get $hist))))))
      (local.set $begin (i32.add (local.get $begin) (i32.const 1)))
      (br $tasks))))

;; conv_bwd(args, begin, end, tid): tasks (b, group). Scratch: w [K], dw [K], g [L] (v128 each).
;; g[t] = dy · act'(pre); dx[s] = Σ_j g[s + K−1 − j] · w[j]; dInitialState[i] = Σ_j g[i − j] · w[j];
;; dweight partial [b, c, j] = Σ_t g[t] · ext[t + j]; dbias partial [b, c] = Σ_t g[t].
(func $conv_bwd (export "conv_bwd") (param $args i32) (param $begin i32) (param $end i32) (param $tid i32)
  (local $w i32) (local $dw i32) (local $g i32) (local $groups i32) (local $b i32) (local $c0 i32) (local $k i32)
  (local $t i32) (local $j i32) (local $s i32) (local $L i32) (local $C i32) (local $K i32) (local $hist i32)
  (local $bias v128) (local $pre v128) (local $sg v128) (local $gv v128) (local $db v128) (local $acc v128)
  (local $e v128) (local $dst i32)
  (local.set $L (i32.load offset=28 (local.get $args)))
  (local.set $C (i32.load offset=32 (local.get $args)))
  (local.set $K (i32.load offset=36 (local.get $args)))
  (local.set $hist (i32.sub (local.get $K) (i32.const 1)))
  (local.set $groups (i32.shr_u (i32.add (local.get $C) (i32.const 3)) (i32.const 2)))
  (local.set $w (i32.add (i32.load offset=44 (local.get $args))
    (i32.mul (local.get $tid) (i32.load offset=48 (local.get $args)))))
  (local.set $dw (i32.add (local.get $w) (i32.shl (local.get $K) (i32.const 4))))
  (local.set $g (i32.add (local.get $dw) (i32.shl (local.get $K) (i32.const 4))))
  (block $done
    (loop $tasks
      (br_if $done (i32.ge_u (local.get $begin) (local.get $end)))
      (local.set $b (i32.div_u (local.get $begin) (local.get $groups)))
      (local.set $c0 (i32.shl (i32.rem_u (local.get $begin) (local.get $groups)) (i32.const 2)))
      (local.set $k (i32.sub (local.get $C) (local.get $c0)))
      (local.set $bias (call $conv_taps (local.get $args) (local.get $c0) (local.get $k) (local.get $w)))
      (memory.fill (local.get $dw) (i32.const 0) (i32.shl (local.get $K) (i32.const 4)))
      (local.set $db (v128.const f32x4 0 0 0 0))
      ;; g, dbias and dweight.
      (local.set $t (i32.const 0))
      (loop $times
        (local.set $gv (call $loadp (i32.add (i32.load offset=52 (local.get $args)) (i32.shl (i32.add
          (i32.mul (i32.add (i32.mul (local.get $b) (local.get $L)) (local.get $t)) (local.get $C)) (local.get $c0)) (i32.const 2)))
          (local.get $k)))
        (if (i32.load offset=40 (local.get $args))
          (then
            (local.set $pre (call $conv_pre (local.get $args) (local.get $b) (local.get $t) (local.get $c0) (local.get $k) (local.get $w) (local.get $bias)))
            (local.set $sg (call $vsigmoid (local.get $pre)))
            (local.set $gv (f32x4.mul (local.get $gv) (f32x4.mul (local.get $sg)
              (f32x4.add (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $pre)
                (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $sg)))))))))
        (v128.store (i32.add (local.get $g) (i32.shl (local.get $t) (i32.const 4))) (local.get $gv))
        (local.set $db (f32x4.add (local.get $db) (local.get $gv)))
        (local.set $j (i32.const 0))
        (loop $taps
          (local.set $dst (i32.add (local.get $dw) (i32.shl (local.get $j) (i32.const 4))))
          (v128.store (local.get $dst) (f32x4.add (v128.load (local.get $dst)) (f32x4.mul (local.get $gv)
            (call $conv_ext (local.get $args) (local.get $b) (i32.add (local.get $t) (local.get $j)) (local.get $c0) (local.get $k)))))
          (br_if $taps (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $K))))
        (br_if $times (i32.lt_u (local.tee $t (i32.add (local.get $t) (i32.const 1))) (local.get $L))))
      (call $storecol (i32.add (i32.load offset=60 (local.get $args)) (i32.shl
        (i32.mul (i32.add (i32.mul (local.get $b) (local.get $C)) (local.get $c0)) (local.get $K)) (i32.const 2)))
        (i32.shl (local.get $K) (i32.const 2)) (v128.load (local.get $dw)) (local.get $k))
      (local.set $j (i32.const 1))
      (block $dwdone
        (br_if $dwdone (i32.ge_u (local.get $j) (local.get $K)))
        (loop $dws
          (call $storecol (i32.add (i32.load offset=60 (local.get $args)) (i32.shl (i32.add
            (i32.mul (i32.add (i32.mul (local.get $b) (local.get $C)) (local.get $c0)) (local.get $K)) (local.get $j)) (i32.const 2)))
            (i32.shl (local.get $K) (i32.const 2))
            (v128.load (i32.add (local.get $dw) (i32.shl (local.get $j) (i32.const 4)))) (local.get $k))
          (br_if $dws (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $K)))))
      (if (i32.load offset=64 (local.get $args))
        (then (call $storep (i32.add (i32.load offset=64 (local.get $args)) (i32.shl
          (i32.add (i32.mul (local.get $b) (local.get $C)) (local.get $c0)) (i32.const 2)))
          (local.get $db) (local.get $k))))
      ;; dExt[row] = Σ_j g[row − j] · w[j] over 0 ≤ row − j < L; rows < K−1 go to dInitialState,
      ;; the others to dx[row − (K−1)].
      (local.set $s (i32.const 0))
      (loop $rows
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (loop $taps2
          (local.set $t (i32.sub (local.get $s) (local.get $j)))
          (if (i32.and (i32.ge_s (local.get $t) (i32.const 0)) (i32.lt_s (local.get $t) (local.get $L)))
            (then (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
              (v128.load (i32.add (local.get $g) (i32.shl (local.get $t) (i32.const 4))))
              (v128.load (i32.add (local.get $w) (i32.shl (local.get $j) (i32.const 4)))))))))
          (br_if $taps2 (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $K))))
        (if (i32.lt_s (local.get $s) (local.get $hist))
          (then (if (i32.load offset=68 (local.get $args))
            (then (call $storep (i32.add (i32.load offset=68 (local.get $args)) (i32.shl (i32.add
              (i32.mul (i32.add (i32.mul (local.get $b) (local.get $hist)) (local.get $s)) (local.get $C)) (local.get $c0)) (i32.const 2)))
              (local.get $acc) (local.get $k)))))
          (else (call $storep (i32.add (i32.load offset=56 (local.get $args)) (i32.shl (i32.add
            (i32.mul (i32.add (i32.mul (local.get $b) (local.get $L)) (i32.sub (local.get $s) (local.get $hist))) (local.get $C)) (local.get $c0)) (i32.const 2)))
            (local.get $acc) (local.get $k))))
        (br_if $rows (i32.lt_s (local.tee $s (i32.add (local.get $s) (i32.const 1))) (i32.add (local.get $L) (local.get $hist)))))
      (local.set $begin (i32.add (local.get $begin) (i32.const 1)))
      (br $tasks))))
