;; Row softmax and softmax cross-entropy (the kernel table's SoftmaxArgs, SoftmaxBackwardArgs,
;; CrossEntropyArgs and CrossEntropyBackwardArgs), float32, a task per contiguous row. A row is
;; three f32x4 passes: the maximum, exp(x − max) (stored, or only summed) with the sum kept in
;; f64x2, then a scale. Rows with a NaN, or a maximum of ±Infinity, give NaN as the reference does.

;; exp(x) for f32x4, with inputs below −87.33654 (where $vexp clamps) giving exactly 0, so that
;; −Infinity (a masked entry) has probability 0 as in the reference. NaN stays NaN.
(func $vexpz (param $x v128) (result v128)
  (v128.andnot (call $vexp (local.get $x))
    (f32x4.lt (local.get $x) (v128.const f32x4 -87.33654 -87.33654 -87.33654 -87.33654))))

;; The maximum of n ≥ 1 floats at p, skipping NaN as the reference's `x > max` does (−Infinity
;; when every value is NaN); pmax keeps the accumulator when the loaded value is NaN.
(func $rowmax (param $p i32) (param $n i32) (result f32)
  (local $m v128) (local $m2 v128) (local $end i32) (local $s f32) (local $v f32)
  (local.set $m (v128.const f32x4 -inf -inf -inf -inf))
  (local.set $m2 (local.get $m))
  (local.set $end (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
  (block $done8
    (br_if $done8 (i32.ge_u (local.get $p) (local.get $end)))
    (loop $v8
      (local.set $m (f32x4.pmax (local.get $m) (v128.load (local.get $p))))
      (local.set $m2 (f32x4.pmax (local.get $m2) (v128.load offset=16 (local.get $p))))
      (br_if $v8 (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 32))) (local.get $end)))))
  (if (i32.and (local.get $n) (i32.const 4))
    (then
      (local.set $m (f32x4.pmax (local.get $m) (v128.load (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))))
  (local.set $m (f32x4.pmax (local.get $m) (local.get $m2)))
  (local.set $s (f32x4.extract_lane 0 (local.get $m)))
  (if (f32.gt (local.tee $v (f32x4.extract_lane 1 (local.get $m))) (local.get $s)) (then (local.set $s (local.get $v))))
  (if (f32.gt (local.tee $v (f32x4.extract_lane 2 (local.get $m))) (local.get $s)) (then (local.set $s (local.get $v))))
  (if (f32.gt (local.tee $v (f32x4.extract_lane 3 (local.get $m))) (local.get $s)) (then (local.set $s (local.get $v))))
  (local.set $end (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
  (block $done
    (loop $tail
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (if (f32.gt (local.tee $v (f32.load (local.get $p))) (local.get $s)) (then (local.set $s (local.get $v))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $tail)))
  (local.get $s))

;; Σ exp(x[c] − m) for c < n, in f64; when o ≠ 0 also stores o[c] = exp(x[c] − m) (f32). The
;; vector loop has $vexpz inlined (a call per vector costs more than the exp here).
(func $expsum (param $x i32) (param $n i32) (param $m f32) (param $o i32) (result f64)
  (local $mv v128) (local $e v128) (local $acc v128) (local $acc2 v128) (local $end i32) (local $s f64) (local $v f32)
  (local $en v128) (local $et v128) (local $er v128) (local $ep v128) (local $ebig v128) (local $esmall v128)
  (local.set $mv (f32x4.splat (local.get $m)))
  (local.set $end (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
  (block $done4
    (br_if $done4 (i32.ge_u (local.get $x) (local.get $end)))
    (loop $v4
      (local.set $e (f32x4.sub (v128.load (local.get $x)) (local.get $mv)))
      (local.set $ebig (f32x4.gt (local.get $e) (v128.const f32x4 88.72283 88.72283 88.72283 88.72283)))
      (local.set $esmall (f32x4.lt (local.get $e) (v128.const f32x4 -87.33654 -87.33654 -87.33654 -87.33654)))
      (local.set $e (f32x4.pmax (local.get $e) (v128.const f32x4 -87.33654 -87.33654 -87.33654 -87.33654)))
      (local.set $e (f32x4.pmin (local.get $e) (v128.const f32x4 88.72283 88.72283 88.72283 88.72283)))
      (local.set $et (f32x4.add (f32x4.mul (local.get $e) (v128.const f32x4 1.44269504 1.44269504 1.44269504 1.44269504)) (v128.const f32x4 12582912 12582912 12582912 12582912)))
      (local.set $en (f32x4.sub (local.get $et) (v128.const f32x4 12582912 12582912 12582912 12582912)))
      (local.set $er (f32x4.sub (local.get $e) (f32x4.mul (local.get $en) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))))
      (local.set $er (f32x4.add (local.get $er) (f32x4.mul (local.get $en) (v128.const f32x4 2.12194440e-4 2.12194440e-4 2.12194440e-4 2.12194440e-4))))
      (local.set $ep (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4))
      (local.set $ep (f32x4.add (f32x4.mul (local.get $ep) (local.get $er)) (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
      (local.set $ep (f32x4.add (f32x4.mul (local.get $ep) (local.get $er)) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
      (local.set $ep (f32x4.add (f32x4.mul (local.get $ep) (local.get $er)) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
      (local.set $ep (f32x4.add (f32x4.mul (local.get $ep) (local.get $er)) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
      (local.set $ep (f32x4.add (f32x4.mul (local.get $ep) (local.get $er)) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
      (local.set $ep (f32x4.add (f32x4.add (f32x4.mul (f32x4.mul (local.get $ep) (local.get $er)) (local.get $er)) (local.get $er)) (v128.const f32x4 1 1 1 1)))
      (local.set $ep (f32x4.mul (local.get $ep) (i32x4.shl (i32x4.add (local.get $et) (v128.const i32x4 -1262485377 -1262485377 -1262485377 -1262485377)) (i32.const 23))))
      (local.set $e (v128.andnot (v128.bitselect (v128.const f32x4 inf inf inf inf) (local.get $ep) (local.get $ebig)) (local.get $esmall)))
      (if (local.get $o)
        (then
          (v128.store (local.get $o) (local.get $e))
          (local.set $o (i32.add (local.get $o) (i32.const 16)))))
      (local.set $acc (f64x2.add (local.get $acc) (f64x2.promote_low_f32x4 (local.get $e))))
      (local.set $acc2 (f64x2.add (local.get $acc2) (f64x2.promote_low_f32x4
        (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $e) (local.get $e)))))
      (br_if $v4 (i32.lt_u (local.tee $x (i32.add (local.get $x) (i32.const 16))) (local.get $end)))))
  (local.set $acc (f64x2.add (local.get $acc) (local.get $acc2)))
  (local.set $s (f64.add (f64x2.extract_lane 0 (local.get $acc)) (f64x2.extract_lane 1 (local.get $acc))))
  (local.set $end (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
  (block $done
    (loop $tail
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $v (f32x4.extract_lane 0 (call $vexpz (f32x4.splat (f32.sub (f32.load (local.get $x)) (local.get $m))))))
      (if (local.get $o)
        (then
          (f32.store (local.get $o) (local.get $v))
          (local.set $o (i32.add (local.get $o) (i32.const 4)))))
      (local.set $s (f64.add (local.get $s) (f64.promote_f32 (local.get $v))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (br $tail)))
  (local.get $s))

;; softmax(args, begin, end, tid): rows [begin, end).
;; args (i32): 0 x, 4 out, 8 cols.
(func $softmax (export "softmax") (param $args i32) (param $begin i32) (param $end i32) (param $tid i32)
  (local $cols i32) (local $x i32) (local $o i32) (local $sum f64)
  (local.set $cols (i32.load offset=8 (local.get $args)))
  (block $done
    (loop $rows
      (br_if $done (i32.ge_u (local.get $begin) (local.get $end)))
      (local.set $x (i32.add (i32.load (local.get $args)) (i32.shl (i32.mul (local.get $begin) (local.get $cols)) (i32.const 2))))
      (local.set $o (i32.add (i32.load offset=4 (local.get $args)) (i32.shl (i32.mul (local.get $begin) (local.get $cols)) (i32.const 2))))
      (local.set $sum (call $expsum (local.get $x) (local.get $cols)
        (call $rowmax (local.get $x) (local.get $cols)) (local.get $o)))
      (call $scale (f32.demote_f64 (f64.div (f64.const 1) (local.get $sum))) (local.get $o) (local.get $cols))
      (local.set $begin (i32.add (local.get $begin) (i32.const 1)))
      (br $rows))))

;; softmax_bwd(args, begin, end, tid): rows [begin, end); dx = y ⊙ (dy − Σ dy ⊙ y).
;; args (i32): 0 y, 4 dy, 8 dx, 12 cols.
(func $softmax_bwd (export "softmax_bwd") (param $args i32) (param $begin i32) (param $end i32) (param $tid i32)
  (local $cols i32) (local $y i32) (local $dy i32) (local $dx i32) (local $off i32) (local $c i32) (local $k i32)
  (local $dv v128)
  (local.set $cols (i32.load offset=12 (local.get $args)))
  (block $done
    (loop $rows
      (br_if $done (i32.ge_u (local.get $begin) (local.get $end)))
      (local.set $off (i32.shl (i32.mul (local.get $begin) (local.get $cols)) (i32.const 2)))
      (local.set $y (i32.add (i32.load (local.get $args)) (local.get $off)))
      (local.set $dy (i32.add (i32.load offset=4 (local.get $args)) (local.get $off)))
      (local.set $dx (i32.add (i32.load offset=8 (local.get $args)) (local.get $off)))
      (local.set $dv (f32x4.splat (call $dot (local.get $dy) (local.get $y) (local.get $cols))))
      (local.set $c (i32.const 0))
      (block $full
        (loop $cv
          (br_if $full (i32.gt_s (i32.add (local.get $c) (i32.const 4)) (local.get $cols)))
          (v128.store (local.get $dx)
            (f32x4.mul (v128.load (local.get $y)) (f32x4.sub (v128.load (local.get $dy)) (local.get $dv))))
          (local.set $y (i32.add (local.get $y) (i32.const 16)))
          (local.set $dy (i32.add (local.get $dy) (i32.const 16)))
          (local.set $dx (i32.add (local.get $dx) (i32.const 16)))
          (local.set $c (i32.add (local.get $c) (i32.const 4)))
          (br $cv)))
      (if (local.tee $k (i32.sub (local.get $cols) (local.get $c)))
        (then
          (call $storep (local.get $dx)
            (f32x4.mul (call $loadp (local.get $y) (local.get $k))
              (f32x4.sub (call $loadp (local.get $dy) (local.get $k)) (local.get $dv)))
            (local.get $k))))
      (local.set $begin (i32.add (local.get $begin) (i32.const 1)))
      (br $rows))))

;; ce_fwd(args, begin, end, tid): rows [begin, end); lse = max + log Σ exp(x − max) (NaN when the
;; sum is NaN: a NaN in the row, or a maximum of ±Infinity), loss = lse − x[target] or 0 for an
;; ignored row. The caller has checked the targets. lse and loss are formed in f64 from the f32
;; maximum and log, as the reference forms them in f64.
;; args (i32): 0 logits, 4 targets, 8 loss, 12 lse, 16 classes, 20 ignoreIndex.
(func $ce_fwd (export "ce_fwd") (param $args i32) (param $begin i32) (param $end i32) (param $tid i32)
  (local $n i32) (local $x i32) (local $t i32) (local $m f32) (local $sum f64) (local $lse f64) (local $at i32)
  (local.set $n (i32.load offset=16 (local.get $args)))
  (block $done
    (loop $rows
      (br_if $done (i32.ge_u (local.get $begin) (local.get $end)))
      (local.set $x (i32.add (i32.load (local.get $args)) (i32.shl (i32.mul (local.get $begin) (local.get $n)) (i32.const 2))))
      (local.set $m (call $rowmax (local.get $x) (local.get $n)))
      (local.set $sum (call $expsum (local.get $x) (local.get $n) (local.get $m) (i32.const 0)))
      (local.set $lse (if (result f64) (f64.ne (local.get $sum) (local.get $sum))
        (then (local.get $sum))
        (else (f64.add (f64.promote_f32 (local.get $m)) (f64.promote_f32
          (f32x4.extract_lane 0 (call $vlog (f32x4.splat (f32.demote_f64 (local.get $sum))))))))))
      (local.set $at (i32.shl (local.get $begin) (i32.const 2)))
      (f32.store (i32.add (i32.load offset=12 (local.get $args)) (local.get $at)) (f32.demote_f64 (local.get $lse)))
      (local.set $t (i32.load (i32.add (i32.load offset=4 (local.get $args)) (local.get $at))))
      (f32.store (i32.add (i32.load offset=8 (local.get $args)) (local.get $at))
        (if (result f32) (i32.eq (local.get $t) (i32.load offset=20 (local.get $args)))
          (then (f32.const 0))
          (else (f32.demote_f64 (f64.sub (local.get $lse)
            (f64.promote_f32 (f32.load (i32.add (local.get $x) (i32.shl (local.get $t) (i32.const 2))))))))))
      (local.set $begin (i32.add (local.get $begin) (i32.const 1)))
      (br $rows))))

;; ce_bwd(args, begin, end, tid): rows [begin, end); dlogits = dloss · (exp(x − lse) − onehot),
;; zeros for an ignored row. The caller has checked the targets.
;; args (i32): 0 logits, 4 targets, 8 lse, 12 dloss, 16 dlogits, 20 classes, 24 ignoreIndex.
(func $ce_bwd (export "ce_bwd") (param $args i32) (param $begin i32) (param $end i32) (param $tid i32)
  (local $n i32) (local $x i32) (local $d i32) (local $t i32) (local $c i32) (local $k i32) (local $at i32)
  (local $p i32) (local $q i32) (local $lv v128) (local $gv v128) (local $e v128) (local $l f32) (local $g f32)
  (local $en v128) (local $et v128) (local $er v128) (local $ep v128) (local $ebig v128) (local $esmall v128)
  (local.set $n (i32.load offset=20 (local.get $args)))
  (block $done
    (loop $rows
      (br_if $done (i32.ge_u (local.get $begin) (local.get $end)))
      (local.set $x (i32.add (i32.load (local.get $args)) (i32.shl (i32.mul (local.get $begin) (local.get $n)) (i32.const 2))))
      (local.set $d (i32.add (i32.load offset=16 (local.get $args)) (i32.shl (i32.mul (local.get $begin) (local.get $n)) (i32.const 2))))
      (local.set $at (i32.shl (local.get $begin) (i32.const 2)))
      (local.set $t (i32.load (i32.add (i32.load offset=4 (local.get $args)) (local.get $at))))
      (if (i32.eq (local.get $t) (i32.load offset=24 (local.get $args)))
        (then (call $zero (local.get $d) (local.get $n)))
        (else
          (local.set $l (f32.load (i32.add (i32.load offset=8 (local.get $args)) (local.get $at))))
          (local.set $g (f32.load (i32.add (i32.load offset=12 (local.get $args)) (local.get $at))))
          (local.set $lv (f32x4.splat (local.get $l)))
          (local.set $gv (f32x4.splat (local.get $g)))
          (local.set $c (i32.const 0))
          (local.set $p (local.get $x))
          (local.set $q (local.get $d))
          (block $full
            (loop $cv
              (br_if $full (i32.gt_s (i32.add (local.get $c) (i32.const 4)) (local.get $n)))
              (local.set $e (f32x4.sub (v128.load (local.get $p)) (local.get $lv)))
              (local.set $ebig (f32x4.gt (local.get $e) (v128.const f32x4 88.72283 88.72283 88.72283 88.72283)))
              (local.set $esmall (f32x4.lt (local.get $e) (v128.const f32x4 -87.33654 -87.33654 -87.33654 -87.33654)))
              (local.set $e (f32x4.pmax (local.get $e) (v128.const f32x4 -87.33654 -87.33654 -87.33654 -87.33654)))
              (local.set $e (f32x4.pmin (local.get $e) (v128.const f32x4 88.72283 88.72283 88.72283 88.72283)))
              (local.set $et (f32x4.add (f32x4.mul (local.get $e) (v128.const f32x4 1.44269504 1.44269504 1.44269504 1.44269504)) (v128.const f32x4 12582912 12582912 12582912 12582912)))
              (local.set $en (f32x4.sub (local.get $et) (v128.const f32x4 12582912 12582912 12582912 12582912)))
              (local.set $er (f32x4.sub (local.get $e) (f32x4.mul (local.get $en) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))))
              (local.set $er (f32x4.add (local.get $er) (f32x4.mul (local.get $en) (v128.const f32x4 2.12194440e-4 2.12194440e-4 2.12194440e-4 2.12194440e-4))))
              (local.set $ep (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4))
              (local.set $ep (f32x4.add (f32x4.mul (local.get $ep) (local.get $er)) (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
              (local.set $ep (f32x4.add (f32x4.mul (local.get $ep) (local.get $er)) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
              (local.set $ep (f32x4.add (f32x4.mul (local.get $ep) (local.get $er)) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
              (local.set $ep (f32x4.add (f32x4.mul (local.get $ep) (local.get $er)) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
              (local.set $ep (f32x4.add (f32x4.mul (local.get $ep) (local.get $er)) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
              (local.set $ep (f32x4.add (f32x4.add (f32x4.mul (f32x4.mul (local.get $ep) (local.get $er)) (local.get $er)) (local.get $er)) (v128.const f32x4 1 1 1 1)))
              (local.set $ep (f32x4.mul (local.get $ep) (i32x4.shl (i32x4.add (local.get $et) (v128.const i32x4 -1262485377 -1262485377 -1262485377 -1262485377)) (i32.const 23))))
              (local.set $e (v128.andnot (v128.bitselect (v128.const f32x4 inf inf inf inf) (local.get $ep) (local.get $ebig)) (local.get $esmall)))
              (v128.store (local.get $q) (f32x4.mul (local.get $gv) (local.get $e)))
              (local.set $p (i32.add (local.get $p) (i32.const 16)))
              (local.set $q (i32.add (local.get $q) (i32.const 16)))
              (local.set $c (i32.add (local.get $c) (i32.const 4)))
              (br $cv)))
          (if (local.tee $k (i32.sub (local.get $n) (local.get $c)))
            (then
              (call $storep (local.get $q)
                (f32x4.mul (local.get $gv) (call $vexpz (f32x4.sub (call $loadp (local.get $p) (local.get $k)) (local.get $lv))))
                (local.get $k))))
          (local.set $at (i32.shl (local.get $t) (i32.const 2)))
          (f32.store (i32.add (local.get $d) (local.get $at))
            (f32.mul (local.get $g) (f32.sub
              (f32x4.extract_lane 0 (call $vexpz (f32x4.splat
                (f32.sub (f32.load (i32.add (local.get $x) (local.get $at))) (local.get $l)))))
              (f32.const 1))))))
      (local.set $begin (i32.add (local.get $begin) (i32.const 1)))
      (br $rows))))
