;; Reductions (the kernel table's ReduceArgs), float32: x viewed as [outer, size, inner] reduced
;; over the middle axis into out [outer, inner]. Op codes: 0 sum, 1 mean, 2 max, 3 min, 4 argmax,
;; 5 argmin. min and argmin run as max and argmax of −x (the sign flipped by an xor: exact, NaN
;; stays NaN), as the reference compares sign·x.
;; - inner = 1 (reduce_rows, a task per outer index): f32x4 along the contiguous row; sums in
;;   four f64x2 accumulators.
;; - inner ≥ 2 (reduce_cols, a task per (outer index, block of up to `block` columns)): f32x4
;;   across the columns, walking the rows in order, with the block's accumulators in the thread's
;;   scratch. Sums accumulate in f64 in the reference's order, so they match it exactly.
;; max and min propagate NaN (f32x4.max: as Math.max, with −0 < +0); argmax and argmin return the
;; first index of the extreme value, a NaN counting as more extreme than any number.
;; Arguments (i32 slots): 0 op, 4 x, 8 out, 12 size, 16 inner, 20 blocks per outer index (cols),
;; 24 block (columns per block, a multiple of 4; cols), 28 scratch, 32 scratch bytes per thread.

;; The sign mask of an op: −0 for min and argmin (x xor mask = −x), else 0.
(func $red_flip (param $op i32) (result v128)
  (if (result v128) (i32.or (i32.eq (local.get $op) (i32.const 3)) (i32.eq (local.get $op) (i32.const 5)))
    (then (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))
    (else (v128.const i32x4 0 0 0 0))))

;; Lane 0 of (splat v) xor flip: v or −v.
(func $red_flip1 (param $v f32) (param $flip v128) (result f32)
  (f32x4.extract_lane 0 (v128.xor (f32x4.splat (local.get $v)) (local.get $flip))))

;; Whether (v, i) beats the best (bv, bi) so far when the indices come in any order: NaN beats a
;; number, a larger value beats a smaller one, and between equal values (or two NaNs) the smaller
;; index wins.
(func $red_better (param $v f32) (param $i i32) (param $bv f32) (param $bi i32) (result i32)
  (i32.or
    (i32.or (f32.gt (local.get $v) (local.get $bv))
      (i32.and (f32.ne (local.get $v) (local.get $v)) (f32.eq (local.get $bv) (local.get $bv))))
    (i32.and (i32.lt_s (local.get $i) (local.get $bi))
      (i32.or (f32.eq (local.get $v) (local.get $bv))
        (i32.and (f32.ne (local.get $v) (local.get $v)) (f32.ne (local.get $bv) (local.get $bv)))))))

;; The lanes of v that replace the best: larger, or NaN where the best is not.
(func $red_takes (param $v v128) (param $best v128) (result v128)
  (v128.or (f32x4.gt (local.get $v) (local.get $best))
    (v128.and (f32x4.ne (local.get $v) (local.get $v)) (f32x4.eq (local.get $best) (local.get $best)))))

;; Σ p[i] for i < n in f64 (from +0, as the reference's inner = 1 sum starts).
(func $red_sum64 (param $p i32) (param $n i32) (result f64)
  (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $v v128) (local $end i32) (local $s f64)
  (local.set $end (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
  (block $done8
    (br_if $done8 (i32.ge_u (local.get $p) (local.get $end)))
    (loop $v8
      (local.set $v (v128.load (local.get $p)))
      (local.set $a0 (f64x2.add (local.get $a0) (f64x2.promote_low_f32x4 (local.get $v))))
      (local.set $a1 (f64x2.add (local.get $a1) (f64x2.promote_low_f32x4
        (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v)))))
      (local.set $v (v128.load offset=16 (local.get $p)))
      (local.set $a2 (f64x2.add (local.get $a2) (f64x2.promote_low_f32x4 (local.get $v))))
      (local.set $a3 (f64x2.add (local.get $a3) (f64x2.promote_low_f32x4
        (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v)))))
      (br_if $v8 (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 32))) (local.get $end)))))
  (if (i32.and (local.get $n) (i32.const 4))
    (then
      (local.set $v (v128.load (local.get $p)))
      (local.set $a0 (f64x2.add (local.get $a0) (f64x2.promote_low_f32x4 (local.get $v))))
      (local.set $a1 (f64x2.add (local.get $a1) (f64x2.promote_low_f32x4
        (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v)))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))))
  (local.set $a0 (f64x2.add (f64x2.add (local.get $a0) (local.get $a1)) (f64x2.add (local.get $a2) (local.get $a3))))
  (local.set $s (f64.add (f64x2.extract_lane 0 (local.get $a0)) (f64x2.extract_lane 1 (local.get $a0))))
  (local.set $end (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
  (block $done
    (loop $tail
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $s (f64.add (local.get $s) (f64.promote_f32 (f32.load (local.get $p)))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $tail)))
  (local.get $s))

;; max over i < n (n ≥ 1) of p[i] xor flip, NaN-propagating (four accumulators: f32x4.max is a
;; long dependent sequence on x64).
(func $red_max (param $p i32) (param $n i32) (param $flip v128) (result f32)
  (local $m v128) (local $m2 v128) (local $m3 v128) (local $m4 v128) (local $end i32) (local $s f32)
  (local.set $m (v128.xor (f32x4.splat (f32.load (local.get $p))) (local.get $flip)))
  (local.set $m2 (local.get $m))
  (local.set $m3 (local.get $m))
  (local.set $m4 (local.get $m))
  (local.set $end (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -16)) (i32.const 2))))
  (block $done16
    (br_if $done16 (i32.ge_u (local.get $p) (local.get $end)))
    (loop $v16
      (local.set $m (f32x4.max (local.get $m) (v128.xor (v128.load (local.get $p)) (local.get $flip))))
      (local.set $m2 (f32x4.max (local.get $m2) (v128.xor (v128.load offset=16 (local.get $p)) (local.get $flip))))
      (local.set $m3 (f32x4.max (local.get $m3) (v128.xor (v128.load offset=32 (local.get $p)) (local.get $flip))))
      (local.set $m4 (f32x4.max (local.get $m4) (v128.xor (v128.load offset=48 (local.get $p)) (local.get $flip))))
      (br_if $v16 (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 64))) (local.get $end)))))
  (local.set $end (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const 12)) (i32.const 2))))
  (block $done4
    (br_if $done4 (i32.ge_u (local.get $p) (local.get $end)))
    (loop $v4
      (local.set $m (f32x4.max (local.get $m) (v128.xor (v128.load (local.get $p)) (local.get $flip))))
      (br_if $v4 (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16))) (local.get $end)))))
  (local.set $m (f32x4.max (f32x4.max (local.get $m) (local.get $m2)) (f32x4.max (local.get $m3) (local.get $m4))))
  (local.set $s (f32.max
    (f32.max (f32x4.extract_lane 0 (local.get $m)) (f32x4.extract_lane 1 (local.get $m)))
    (f32.max (f32x4.extract_lane 2 (local.get $m)) (f32x4.extract_lane 3 (local.get $m)))))
  (local.set $end (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
  (block $done
    (loop $tail
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $s (f32.max (local.get $s) (call $red_flip1 (f32.load (local.get $p)) (local.get $flip))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $tail)))
  (local.get $s))

;; The index of the first maximum over i < n (n ≥ 1) of p[i] xor flip (a NaN beats any number).
;; Each lane keeps its own first best over the indices ≡ lane (mod 4); the lanes are then
;; combined by value, then index; the scalar tail comes after every lane's index.
(func $red_arg (param $p i32) (param $n i32) (param $flip v128) (result i32)
  (local $best v128) (local $idx v128) (local $cur v128) (local $v v128) (local $mask v128)
  (local $end i32) (local $bv f32) (local $bi i32) (local $s f32) (local $i i32) (local $p0 i32)
  (local.set $p0 (local.get $p))
  (local.set $bv (call $red_flip1 (f32.load (local.get $p)) (local.get $flip)))
  (local.set $i (i32.const 1))
  (if (i32.ge_u (local.get $n) (i32.const 4))
    (then
      (local.set $best (v128.xor (v128.load (local.get $p)) (local.get $flip)))
      (local.set $idx (v128.const i32x4 0 1 2 3))
      (local.set $cur (v128.const i32x4 4 5 6 7))
      (local.set $end (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (block $done4
        (br_if $done4 (i32.ge_u (local.get $p) (local.get $end)))
        (loop $v4
          (local.set $v (v128.xor (v128.load (local.get $p)) (local.get $flip)))
          (local.set $mask (v128.or (f32x4.gt (local.get $v) (local.get $best))
            (v128.and (f32x4.ne (local.get $v) (local.get $v)) (f32x4.eq (local.get $best) (local.get $best)))))
          (local.set $best (v128.bitselect (local.get $v) (local.get $best) (local.get $mask)))
          (local.set $idx (v128.bitselect (local.get $cur) (local.get $idx) (local.get $mask)))
          (local.set $cur (i32x4.add (local.get $cur) (v128.const i32x4 4 4 4 4)))
          (br_if $v4 (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16))) (local.get $end)))))
      (local.set $bv (f32x4.extract_lane 0 (local.get $best)))
      (local.set $bi (i32x4.extract_lane 0 (local.get $idx)))
      (if (call $red_better (local.tee $s (f32x4.extract_lane 1 (local.get $best))) (i32x4.extract_lane 1 (local.get $idx)) (local.get $bv) (local.get $bi))
        (then (local.set $bv (local.get $s)) (local.set $bi (i32x4.extract_lane 1 (local.get $idx)))))
      (if (call $red_better (local.tee $s (f32x4.extract_lane 2 (local.get $best))) (i32x4.extract_lane 2 (local.get $idx)) (local.get $bv) (local.get $bi))
        (then (local.set $bv (local.get $s)) (local.set $bi (i32x4.extract_lane 2 (local.get $idx)))))
      (if (call $red_better (local.tee $s (f32x4.extract_lane 3 (local.get $best))) (i32x4.extract_lane 3 (local.get $idx)) (local.get $bv) (local.get $bi))
        (then (local.set $bv (local.get $s)) (local.set $bi (i32x4.extract_lane 3 (local.get $idx)))))
      (local.set $i (i32.and (local.get $n) (i32.const -4)))))
  (block $done
    (loop $tail
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $s (call $red_flip1 (f32.load (i32.add (local.get $p0) (i32.shl (local.get $i) (i32.const 2)))) (local.get $flip)))
      (if (i32.or (f32.gt (local.get $s) (local.get $bv))
            (i32.and (f32.ne (local.get $s) (local.get $s)) (f32.eq (local.get $bv) (local.get $bv))))
        (then (local.set $bv (local.get $s)) (local.set $bi (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $tail)))
  (local.get $bi))

;; reduce_rows(args, begin, end, tid): inner = 1, outer indices [begin, end).
(func $reduce_rows (export "reduce_rows") (param $args i32) (param $begin i32) (param $end i32) (param $tid i32)
  (local $op i32) (local $size i32) (local $p i32) (local $o i32) (local $flip v128) (local $s f64)
  (local.set $op (i32.load (local.get $args)))
  (local.set $size (i32.load offset=12 (local.get $args)))
  (local.set $flip (call $red_flip (local.get $op)))
  (block $done
    (loop $rows
      (br_if $done (i32.ge_u (local.get $begin) (local.get $end)))
      (local.set $p (i32.add (i32.load offset=4 (local.get $args)) (i32.shl (i32.mul (local.get $begin) (local.get $size)) (i32.const 2))))
      (local.set $o (i32.add (i32.load offset=8 (local.get $args)) (i32.shl (local.get $begin) (i32.const 2))))
      (if (i32.lt_u (local.get $op) (i32.const 2))
        (then
          (local.set $s (call $red_sum64 (local.get $p) (local.get $size)))
          (if (local.get $op) (then (local.set $s (f64.div (local.get $s) (f64.convert_i32_u (local.get $size))))))
          (f32.store (local.get $o) (f32.demote_f64 (local.get $s))))
        (else
          (if (i32.lt_u (local.get $op) (i32.const 4))
            (then (f32.store (local.get $o) (call $red_flip1
              (call $red_max (local.get $p) (local.get $size) (local.get $flip)) (local.get $flip))))
            (else (i32.store (local.get $o) (call $red_arg (local.get $p) (local.get $size) (local.get $flip)))))))
      (local.set $begin (i32.add (local.get $begin) (i32.const 1)))
      (br $rows))))

;; One row of a column block into its f64 sums at a (two f64x2 per group of four columns): nf
;; whole groups, then a partial one of rem (0 … 3) columns.
(func $red_cols_sum (param $p i32) (param $a i32) (param $nf i32) (param $rem i32)
  (local $v v128) (local $end i32)
  (local.set $end (i32.add (local.get $p) (i32.shl (local.get $nf) (i32.const 4))))
  (block $done
    (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
    (loop $v4
      (local.set $v (v128.load (local.get $p)))
      (v128.store (local.get $a) (f64x2.add (v128.load (local.get $a)) (f64x2.promote_low_f32x4 (local.get $v))))
      (v128.store offset=16 (local.get $a) (f64x2.add (v128.load offset=16 (local.get $a)) (f64x2.promote_low_f32x4
        (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v)))))
      (local.set $a (i32.add (local.get $a) (i32.const 32)))
      (br_if $v4 (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16))) (local.get $end)))))
  (if (local.get $rem)
    (then
      (local.set $v (call $loadp (local.get $p) (local.get $rem)))
      (v128.store (local.get $a) (f64x2.add (v128.load (local.get $a)) (f64x2.promote_low_f32x4 (local.get $v))))
      (v128.store offset=16 (local.get $a) (f64x2.add (v128.load offset=16 (local.get $a)) (f64x2.promote_low_f32x4
        (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v))))))))

;; One row of a column block into its running maxima at a (of x xor flip).
(func $red_cols_max (param $p i32) (param $a i32) (param $nf i32) (param $rem i32) (param $flip v128)
  (local $end i32)
  (local.set $end (i32.add (local.get $p) (i32.shl (local.get $nf) (i32.const 4))))
  (block $done
    (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
    (loop $v4
      (v128.store (local.get $a) (f32x4.max (v128.load (local.get $a))
        (v128.xor (v128.load (local.get $p)) (local.get $flip))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (br_if $v4 (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16))) (local.get $end)))))
  (if (local.get $rem)
    (then
      (v128.store (local.get $a) (f32x4.max (v128.load (local.get $a))
        (v128.xor (call $loadp (local.get $p) (local.get $rem)) (local.get $flip)))))))

;; Row r of a column block into its running best values at a (of x xor flip) and their indices
;; at a + ib: nf whole groups of four columns, then a partial one of rem (0 … 3) columns.
(func $red_cols_arg (param $p i32) (param $a i32) (param $ib i32) (param $nf i32) (param $rem i32) (param $flip v128) (param $r v128)
  (local $end i32) (local $v v128) (local $best v128) (local $mask v128)
  (local.set $end (i32.add (local.get $p) (i32.shl (local.get $nf) (i32.const 4))))
  (block $done
    (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
    (loop $v4
      (local.set $v (v128.xor (v128.load (local.get $p)) (local.get $flip)))
      (local.set $best (v128.load (local.get $a)))
      (local.set $mask (v128.or (f32x4.gt (local.get $v) (local.get $best))
        (v128.and (f32x4.ne (local.get $v) (local.get $v)) (f32x4.eq (local.get $best) (local.get $best)))))
      (v128.store (local.get $a) (v128.bitselect (local.get $v) (local.get $best) (local.get $mask)))
      (v128.store (i32.add (local.get $a) (local.get $ib))
        (v128.bitselect (local.get $r) (v128.load (i32.add (local.get $a) (local.get $ib))) (local.get $mask)))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (br_if $v4 (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16))) (local.get $end)))))
  (if (local.get $rem)
    (then
      (local.set $v (v128.xor (call $loadp (local.get $p) (local.get $rem)) (local.get $flip)))
      (local.set $best (v128.load (local.get $a)))
      (local.set $mask (call $red_takes (local.get $v) (local.get $best)))
      (v128.store (local.get $a) (v128.bitselect (local.get $v) (local.get $best) (local.get $mask)))
      (v128.store (i32.add (local.get $a) (local.get $ib))
        (v128.bitselect (local.get $r) (v128.load (i32.add (local.get $a) (local.get $ib))) (local.get $mask))))))

;; Fills n bytes at p (a multiple of 16) with v.
(func $red_fill (param $p i32) (param $n i32) (param $v v128)
  (local $end i32)
  (local.set $end (i32.add (local.get $p) (local.get $n)))
  (loop $fill
    (v128.store (local.get $p) (local.get $v))
    (br_if $fill (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16))) (local.get $end)))))

;; reduce_cols(args, begin, end, tid): inner ≥ 2, tasks [begin, end), task t = o·blocks + block.
(func $reduce_cols (export "reduce_cols") (param $args i32) (param $begin i32) (param $end i32) (param $tid i32)
  (local $op i32) (local $size i32) (local $inner i32) (local $blocks i32) (local $bw i32) (local $sc i32)
  (local $o i32) (local $c0 i32) (local $w i32) (local $nf i32) (local $rem i32) (local $groups i32)
  (local $p i32) (local $stride i32) (local $r i32) (local $c i32) (local $out i32) (local $flip v128)
  (local $ib i32) (local $s f64)
  (local.set $op (i32.load (local.get $args)))
  (local.set $size (i32.load offset=12 (local.get $args)))
  (local.set $inner (i32.load offset=16 (local.get $args)))
  (local.set $blocks (i32.load offset=20 (local.get $args)))
  (local.set $bw (i32.load offset=24 (local.get $args)))
  (local.set $sc (i32.add (i32.load offset=28 (local.get $args)) (i32.mul (local.get $tid) (i32.load offset=32 (local.get $args)))))
  (local.set $stride (i32.shl (local.get $inner) (i32.const 2)))
  (local.set $flip (call $red_flip (local.get $op)))
  (local.set $ib (i32.shl (local.get $bw) (i32.const 2)))
  (block $done
    (loop $tasks
      (br_if $done (i32.ge_u (local.get $begin) (local.get $end)))
      (local.set $o (i32.div_u (local.get $begin) (local.get $blocks)))
      (local.set $c0 (i32.mul (i32.rem_u (local.get $begin) (local.get $blocks)) (local.get $bw)))
      (local.set $w (i32.sub (local.get $inner) (local.get $c0)))
      (if (i32.gt_u (local.get $w) (local.get $bw)) (then (local.set $w (local.get $bw))))
      (local.set $nf (i32.shr_u (local.get $w) (i32.const 2)))
      (local.set $rem (i32.and (local.get $w) (i32.const 3)))
      (local.set $groups (i32.add (local.get $nf) (i32.ne (local.get $rem) (i32.const 0))))
      (local.set $p (i32.add (i32.load offset=4 (local.get $args))
        (i32.shl (i32.add (i32.mul (i32.mul (local.get $o) (local.get $size)) (local.get $inner)) (local.get $c0)) (i32.const 2))))
      (local.set $out (i32.add (i32.load offset=8 (local.get $args))
        (i32.shl (i32.add (i32.mul (local.get $o) (local.get $inner)) (local.get $c0)) (i32.const 2))))
      (local.set $r (i32.const 0))
      (if (i32.lt_u (local.get $op) (i32.const 2))
        (then
          ;; Sums from −0, so that the first row is kept as it is (the reference seeds with it).
          (call $red_fill (local.get $sc) (i32.shl (local.get $groups) (i32.const 5)) (v128.const f64x2 -0 -0))
          (loop $sum
            (call $red_cols_sum (local.get $p) (local.get $sc) (local.get $nf) (local.get $rem))
            (local.set $p (i32.add (local.get $p) (local.get $stride)))
            (br_if $sum (i32.lt_u (local.tee $r (i32.add (local.get $r) (i32.const 1))) (local.get $size))))
          (local.set $c (i32.const 0))
          (loop $store
            (local.set $s (f64.load (i32.add (local.get $sc) (i32.shl (local.get $c) (i32.const 3)))))
            (if (local.get $op) (then (local.set $s (f64.div (local.get $s) (f64.convert_i32_u (local.get $size))))))
            (f32.store (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 2))) (f32.demote_f64 (local.get $s)))
            (br_if $store (i32.lt_u (local.tee $c (i32.add (local.get $c) (i32.const 1))) (local.get $w)))))
        (else
          (if (i32.lt_u (local.get $op) (i32.const 4))
            (then
              (call $red_fill (local.get $sc) (i32.shl (local.get $groups) (i32.const 4)) (v128.const f32x4 -inf -inf -inf -inf))
              (loop $max
                (call $red_cols_max (local.get $p) (local.get $sc) (local.get $nf) (local.get $rem) (local.get $flip))
                (local.set $p (i32.add (local.get $p) (local.get $stride)))
                (br_if $max (i32.lt_u (local.tee $r (i32.add (local.get $r) (i32.const 1))) (local.get $size))))
              (local.set $c (i32.const 0))
              (loop $store
                (f32.store (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 2)))
                  (call $red_flip1 (f32.load (i32.add (local.get $sc) (i32.shl (local.get $c) (i32.const 2)))) (local.get $flip)))
                (br_if $store (i32.lt_u (local.tee $c (i32.add (local.get $c) (i32.const 1))) (local.get $w)))))
            (else
              ;; Best values from −Infinity with index 0: row 0 then replaces every best but a
              ;; −Infinity, which keeps index 0 all the same.
              (call $red_fill (local.get $sc) (i32.shl (local.get $groups) (i32.const 4)) (v128.const f32x4 -inf -inf -inf -inf))
              (call $red_fill (i32.add (local.get $sc) (local.get $ib)) (i32.shl (local.get $groups) (i32.const 4)) (v128.const i32x4 0 0 0 0))
              (loop $arg
                (call $red_cols_arg (local.get $p) (local.get $sc) (local.get $ib) (local.get $nf) (local.get $rem)
                  (local.get $flip) (i32x4.splat (local.get $r)))
                (local.set $p (i32.add (local.get $p) (local.get $stride)))
                (br_if $arg (i32.lt_u (local.tee $r (i32.add (local.get $r) (i32.const 1))) (local.get $size))))
              (local.set $c (i32.const 0))
              (loop $store
                (i32.store (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 2)))
                  (i32.load (i32.add (i32.add (local.get $sc) (local.get $ib)) (i32.shl (local.get $c) (i32.const 2)))))
                (br_if $store (i32.lt_u (local.tee $c (i32.add (local.get $c) (i32.const 1))) (local.get $w))))))))
      (local.set $begin (i32.add (local.get $begin) (i32.const 1)))
      (br $tasks))))
