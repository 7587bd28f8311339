;; Small f32 vector helpers on contiguous rows (f32x4 over whole groups of four, scalars for the
;; tail): dot products, axpy, scaling and zeroing.

;; Σ a[d]·b[d] for d < n.
(func $dot (param $a i32) (param $b i32) (param $n i32) (result f32)
  (local $acc v128) (local $acc2 v128) (local $end i32) (local $s f32)
  (local.set $end (i32.add (local.get $a) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
  (block $done8
    (br_if $done8 (i32.ge_u (local.get $a) (local.get $end)))
    (loop $v8
      (local.set $acc (f32x4.add (local.get $acc)
        (f32x4.mul (v128.load (local.get $a)) (v128.load (local.get $b)))))
      (local.set $acc2 (f32x4.add (local.get $acc2)
        (f32x4.mul (v128.load offset=16 (local.get $a)) (v128.load offset=16 (local.get $b)))))
      (local.set $b (i32.add (local.get $b) (i32.const 32)))
      (br_if $v8 (i32.lt_u (local.tee $a (i32.add (local.get $a) (i32.const 32))) (local.get $end)))))
  (if (i32.and (local.get $n) (i32.const 4))
    (then
      (local.set $acc (f32x4.add (local.get $acc)
        (f32x4.mul (v128.load (local.get $a)) (v128.load (local.get $b)))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))))
  (local.set $s (call $hsum (f32x4.add (local.get $acc) (local.get $acc2))))
  (local.set $end (i32.add (local.get $a) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
  (block $done
    (loop $tail
      (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
      (local.set $s (f32.add (local.get $s) (f32.mul (f32.load (local.get $a)) (f32.load (local.get $b)))))
      (local.set $a (i32.add (local.get $a) (i32.const 4)))
      (local.set $b (i32.add (local.get $b) (i32.const 4)))
      (br $tail)))
  (local.get $s))

;; y[d] += alpha·x[d] for d < n.
(func $axpy (param $alpha f32) (param $x i32) (param $y i32) (param $n i32)
  (local $av v128) (local $end i32)
  (local.set $av (f32x4.splat (local.get $alpha)))
  (local.set $end (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
  (block $done4
    (br_if $done4 (i32.ge_u (local.get $x) (local.get $end)))
    (loop $v4
      (v128.store (local.get $y) (f32x4.add (v128.load (local.get $y))
        (f32x4.mul (local.get $av) (v128.load (local.get $x)))))
      (local.set $y (i32.add (local.get $y) (i32.const 16)))
      (br_if $v4 (i32.lt_u (local.tee $x (i32.add (local.get $x) (i32.const 16))) (local.get $end)))))
  (local.set $end (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
  (block $done
    (loop $tail
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (f32.store (local.get $y) (f32.add (f32.load (local.get $y))
        (f32.mul (local.get $alpha) (f32.load (local.get $x)))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $y (i32.add (local.get $y) (i32.const 4)))
      (br $tail))))

;; x[d] *= alpha for d < n.
(func $scale (param $alpha f32) (param $x i32) (param $n i32)
  (local $av v128) (local $end i32)
  (local.set $av (f32x4.splat (local.get $alpha)))
  (local.set $end (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
  (block $done4
    (br_if $done4 (i32.ge_u (local.get $x) (local.get $end)))
    (loop $v4
      (v128.store (local.get $x) (f32x4.mul (local.get $av) (v128.load (local.get $x))))
      (br_if $v4 (i32.lt_u (local.tee $x (i32.add (local.get $x) (i32.const 16))) (local.get $end)))))
  (local.set $end (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
  (block $done
    (loop $tail
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (f32.store (local.get $x) (f32.mul (local.get $alpha) (f32.load (local.get $x))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (br $tail))))

;; x[d] = 0 for d < n.
(func $zero (param $x i32) (param $n i32)
  (memory.fill (local.get $x) (i32.const 0) (i32.shl (local.get $n) (i32.const 2))))
