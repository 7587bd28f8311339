;; RMS normalisation (the kernel table's RmsNormArgs and RmsNormBackwardArgs), float32. The
;; forward is a task per row: rstd = 1 / sqrt(mean(x²) + eps), out = x · rstd · weight; the
;; backward a task per part of the rows.

;; rms_fwd(args, begin, end, tid): rows [begin, end).
;; args: 0 x, 4 weight, 8 out, 12 rstd (i32 pointers), 16 cols (i32), 20 eps (f32).
(func $rms_fwd (export "rms_fwd") (param $args i32) (param $begin i32) (param $end i32) (param $tid i32)
  (local $cols i32) (local $x i32) (local $w i32) (local $o i32) (local $c i32) (local $k i32)
  (local $rstd f32) (local $rv v128)
  (local.set $cols (i32.load offset=16 (local.get $args)))
  (block $done
    (loop $rows
      (br_if $done (i32.ge_u (local.get $begin) (local.get $end)))
      (local.set $x (i32.add (i32.load (local.get $args)) (i32.shl (i32.mul (local.get $begin) (local.get $cols)) (i32.const 2))))
      (local.set $o (i32.add (i32.load offset=8 (local.get $args)) (i32.shl (i32.mul (local.get $begin) (local.get $cols)) (i32.const 2))))
      (local.set $w (i32.load offset=4 (local.get $args)))
      (local.set $rstd (f32.div (f32.const 1) (f32.sqrt (f32.add
        (f32.div (call $dot (local.get $x) (local.get $x) (local.get $cols)) (f32.convert_i32_u (local.get $cols)))
        (f32.load offset=20 (local.get $args))))))
      (f32.store (i32.add (i32.load offset=12 (local.get $args)) (i32.shl (local.get $begin) (i32.const 2))) (local.get $rstd))
      (local.set $rv (f32x4.splat (local.get $rstd)))
      (local.set $c (i32.const 0))
      ;; Whole groups of four with plain loads (a $loadp call per group costs more than the math).
      (block $full
        (loop $cv
          (br_if $full (i32.gt_s (i32.add (local.get $c) (i32.const 4)) (local.get $cols)))
          (v128.store (local.get $o)
            (f32x4.mul (f32x4.mul (v128.load (local.get $x)) (local.get $rv)) (v128.load (local.get $w))))
          (local.set $x (i32.add (local.get $x) (i32.const 16)))
          (local.set $w (i32.add (local.get $w) (i32.const 16)))
          (local.set $o (i32.add (local.get $o) (i32.const 16)))
          (local.set $c (i32.add (local.get $c) (i32.const 4)))
          (br $cv)))
      (if (local.tee $k (i32.sub (local.get $cols) (local.get $c)))
        (then
          (call $storep (local.get $o)
            (f32x4.mul (f32x4.mul (call $loadp (local.get $x) (local.get $k)) (local.get $rv)) (call $loadp (local.get $w) (local.get $k)))
            (local.get $k))))
      (local.set $begin (i32.add (local.get $begin) (i32.const 1)))
      (br $rows))))

;; Σ x[c] · w[c] · dy[c] for c < n: f32x4 over whole groups (two accumulators), a partial
;; group (zeros past the row) for the rest.
(func $dot3 (param $x i32) (param $w i32) (param $dy i32) (param $n i32) (result f32)
  (local $acc v128) (local $acc2 v128) (local $end i32) (local $k i32)
  (local.set $end (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
  (block $done8
    (br_if $done8 (i32.ge_u (local.get $x) (local.get $end)))
    (loop $v8
      (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
        (f32x4.mul (v128.load (local.get $x)) (v128.load (local.get $w))) (v128.load (local.get $dy)))))
      (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul
        (f32x4.mul (v128.load offset=16 (local.get $x)) (v128.load offset=16 (local.get $w))) (v128.load offset=16 (local.get $dy)))))
      (local.set $w (i32.add (local.get $w) (i32.const 32)))
      (local.set $dy (i32.add (local.get $dy) (i32.const 32)))
      (br_if $v8 (i32.lt_u (local.tee $x (i32.add (local.get $x) (i32.const 32))) (local.get $end)))))
  (if (local.tee $k (i32.and (local.get $n) (i32.const 7)))
    (then
      (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
        (f32x4.mul (call $loadp (local.get $x) (local.get $k)) (call $loadp (local.get $w) (local.get $k)))
        (call $loadp (local.get $dy) (local.get $k)))))
      (if (i32.gt_u (local.get $k) (i32.const 4))
        (then
          (local.set $k (i32.sub (local.get $k) (i32.const 4)))
          (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul
            (f32x4.mul (call $loadp (i32.add (local.get $x) (i32.const 16)) (local.get $k))
              (call $loadp (i32.add (local.get $w) (i32.const 16)) (local.get $k)))
            (call $loadp (i32.add (local.get $dy) (i32.const 16)) (local.get $k)))))))))
  (call $hsum (f32x4.add (local.get $acc) (local.get $acc2))))

;; rms_bwd(args, begin, end, tid): parts [begin, end), part p being rows [p·R, min(rows, (p+1)·R)).
;; Per row, with g = weight ⊙ dy: dx = rstd · g − x · rstd³ · mean(x ⊙ g); the part's dweight
;; partial row (partials + p·cols floats) is zeroed, then gets dy ⊙ x · rstd of each of its rows
;; (the caller sums the partial rows). Parts, not threads, own the partials, so the sum does not
;; depend on which thread ran which part.
;; args: 0 x, 4 weight, 8 rstd, 12 dy, 16 dx, 20 partials (i32 pointers), 24 cols, 28 rows,
;; 32 R (rows per part, i32).
(func $rms_bwd (export "rms_bwd") (param $args i32) (param $begin i32) (param $end i32) (param $tid i32)
  (local $cols i32) (local $r i32) (local $rend i32) (local $off i32) (local $c i32) (local $k i32)
  (local $x i32) (local $w i32) (local $dy i32) (local $dx i32) (local $dw i32) (local $part i32)
  (local $rstd f32) (local $bv v128) (local $rv v128) (local $xv v128) (local $dyv v128) (local $wv v128)
  (local.set $cols (i32.load offset=24 (local.get $args)))
  (block $done
    (loop $parts
      (br_if $done (i32.ge_u (local.get $begin) (local.get $end)))
      (local.set $part (i32.add (i32.load offset=20 (local.get $args))
        (i32.shl (i32.mul (local.get $begin) (local.get $cols)) (i32.const 2))))
      (call $zero (local.get $part) (local.get $cols))
      (local.set $r (i32.mul (local.get $begin) (i32.load offset=32 (local.get $args))))
      (local.set $rend (i32.add (local.get $r) (i32.load offset=32 (local.get $args))))
      (if (i32.gt_u (local.get $rend) (i32.load offset=28 (local.get $args)))
        (then (local.set $rend (i32.load offset=28 (local.get $args)))))
      (block $rdone
        (loop $rows
          (br_if $rdone (i32.ge_u (local.get $r) (local.get $rend)))
          (local.set $off (i32.shl (i32.mul (local.get $r) (local.get $cols)) (i32.const 2)))
          (local.set $rstd (f32.load (i32.add (i32.load offset=8 (local.get $args)) (i32.shl (local.get $r) (i32.const 2)))))
          (local.set $x (i32.add (i32.load (local.get $args)) (local.get $off)))
          (local.set $dy (i32.add (i32.load offset=12 (local.get $args)) (local.get $off)))
          (local.set $dx (i32.add (i32.load offset=16 (local.get $args)) (local.get $off)))
          (local.set $w (i32.load offset=4 (local.get $args)))
          (local.set $dw (local.get $part))
          ;; dx = (rstd · w) · dy − x · (rstd³ · mean(x ⊙ w ⊙ dy)); dw += dy · x · rstd.
          (local.set $rv (f32x4.splat (local.get $rstd)))
          (local.set $bv (f32x4.splat (f32.mul
            (f32.mul (f32.mul (local.get $rstd) (local.get $rstd)) (local.get $rstd))
            (f32.div (call $dot3 (local.get $x) (local.get $w) (local.get $dy) (local.get $cols))
              (f32.convert_i32_u (local.get $cols))))))
          (local.set $c (i32.const 0))
          (block $full
            (loop $cv
              (br_if $full (i32.gt_s (i32.add (local.get $c) (i32.const 4)) (local.get $cols)))
              (local.set $xv (v128.load (local.get $x)))
              (local.set $dyv (v128.load (local.get $dy)))
              (v128.store (local.get $dx)
                (f32x4.sub (f32x4.mul (f32x4.mul (local.get $rv) (v128.load (local.get $w))) (local.get $dyv))
                  (f32x4.mul (local.get $xv) (local.get $bv))))
              (v128.store (local.get $dw) (f32x4.add (v128.load (local.get $dw))
                (f32x4.mul (f32x4.mul (local.get $dyv) (local.get $xv)) (local.get $rv))))
              (local.set $x (i32.add (local.get $x) (i32.const 16)))
              (local.set $w (i32.add (local.get $w) (i32.const 16)))
              (local.set $dy (i32.add (local.get $dy) (i32.const 16)))
              (local.set $dx (i32.add (local.get $dx) (i32.const 16)))
              (local.set $dw (i32.add (local.get $dw) (i32.const 16)))
              (local.set $c (i32.add (local.get $c) (i32.const 4)))
              (br $cv)))
          (if (local.tee $k (i32.sub (local.get $cols) (local.get $c)))
            (then
              (local.set $xv (call $loadp (local.get $x) (local.get $k)))
              (local.set $dyv (call $loadp (local.get $dy) (local.get $k)))
              (local.set $wv (call $loadp (local.get $w) (local.get $k)))
              (call $storep (local.get $dx)
                (f32x4.sub (f32x4.mul (f32x4.mul (local.get $rv) (local.get $wv)) (local.get $dyv))
                  (f32x4.mul (local.get $xv) (local.get $bv)))
                (local.get $k))
              (call $storep (local.get $dw)
                (f32x4.add (call $loadp (local.get $dw) (local.get $k))
                  (f32x4.mul (f32x4.mul (local.get $dyv) (local.get $xv)) (local.get $rv)))
                (local.get $k))))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br $rows)))
      (local.set $begin (i32.add (local.get $begin) (i32.const 1)))
      (br $parts))))
