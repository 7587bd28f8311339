;; Elementwise float32 kernels: unary maps, their backward, broadcasting binary arithmetic and
;; strided copies (any 4-byte dtype). Strided ones walk a space of rank ≤ 3 (the caller collapses
;; axes first and pads with leading extents of 1); tasks are rows (all axes but the last), and a
;; row whose steps are 0 or 1 runs in f32x4 (a splat for the step-0 operand).

;; The unary op codes: 0 neg, 1 abs, 2 exp, 3 sqrt, 4 rsqrt, 5 square, 6 reciprocal, 7 sigmoid,
;; 8 silu, 9 softplus, 10 relu.
(func $unary_op (param $op i32) (param $x v128) (result v128)
  (block $relu (block $softplus (block $silu (block $sigmoid (block $reciprocal (block $square
  (block $rsqrt (block $sqrt (block $exp (block $abs (block $neg
    (br_table $neg $abs $exp $sqrt $rsqrt $square $reciprocal $sigmoid $silu $softplus $relu (local.get $op)))
    (return (f32x4.neg (local.get $x))))
    (return (f32x4.abs (local.get $x))))
    (return (call $vexp (local.get $x))))
    (return (f32x4.sqrt (local.get $x))))
    (return (f32x4.div (v128.const f32x4 1 1 1 1) (f32x4.sqrt (local.get $x)))))
    (return (f32x4.mul (local.get $x) (local.get $x))))
    (return (f32x4.div (v128.const f32x4 1 1 1 1) (local.get $x))))
    (return (call $vsigmoid (local.get $x))))
    (return (f32x4.mul (local.get $x) (call $vsigmoid (local.get $x)))))
    (return (call $vsoftplus (local.get $x))))
  (f32x4.max (local.get $x) (v128.const f32x4 0 0 0 0)))

;; dy · f'(x) for the unary op codes above (abs excluded).
(func $unary_grad (param $op i32) (param $x v128) (param $dy v128) (result v128)
  (local $sg v128)
  (block $relu (block $softplus (block $silu (block $sigmoid (block $reciprocal (block $square
  (block $rsqrt (block $sqrt (block $exp (block $abs (block $neg
    (br_table $neg $abs $exp $sqrt $rsqrt $square $reciprocal $sigmoid $silu $softplus $relu (local.get $op)))
    (return (f32x4.neg (local.get $dy))))
    (unreachable))
    (return (f32x4.mul (local.get $dy) (call $vexp (local.get $x)))))
    (return (f32x4.div (f32x4.mul (v128.const f32x4 0.5 0.5 0.5 0.5) (local.get $dy)) (f32x4.sqrt (local.get $x)))))
    (return (f32x4.div (f32x4.mul (v128.const f32x4 -0.5 -0.5 -0.5 -0.5) (local.get $dy))
      (f32x4.mul (local.get $x) (f32x4.sqrt (local.get $x))))))
    (return (f32x4.mul (f32x4.add (local.get $x) (local.get $x)) (local.get $dy))))
    (return (f32x4.div (f32x4.neg (local.get $dy)) (f32x4.mul (local.get $x) (local.get $x)))))
    (local.set $sg (call $vsigmoid (local.get $x)))
    (return (f32x4.mul (f32x4.mul (local.get $dy) (local.get $sg))
      (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $sg)))))
    (local.set $sg (call $vsigmoid (local.get $x)))
    (return (f32x4.mul (f32x4.mul (local.get $dy) (local.get $sg))
      (f32x4.add (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $x)
        (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $sg)))))))
    (return (v128.bitselect (local.get $dy)
      (f32x4.mul (local.get $dy) (call $vsigmoid (local.get $x)))
      (f32x4.gt (local.get $x) (v128.const f32x4 20 20 20 20)))))
  (v128.and (local.get $dy) (f32x4.gt (local.get $x) (v128.const f32x4 0 0 0 0))))

;; unary(args, begin, end, tid): elements [1024·begin, 1024·end) ∩ [0, size).
;; args (i32): 0 op, 4 x, 8 out, 12 size.
(func $unary (export "unary") (param $args i32) (param $begin i32) (param $end i32) (param $tid i32)
  (local $op i32) (local $x i32) (local $out i32) (local $i i32) (local $e i32)
  (local.set $op (i32.load (local.get $args)))
  (local.set $x (i32.load offset=4 (local.get $args)))
  (local.set $out (i32.load offset=8 (local.get $args)))
  (local.set $i (i32.shl (local.get $begin) (i32.const 10)))
  (local.set $e (i32.shl (local.get $end) (i32.const 10)))
  (if (i32.gt_u (local.get $e) (i32.load offset=12 (local.get $args)))
    (then (local.set $e (i32.load offset=12 (local.get $args)))))
  (block $full
    (loop $v
      (br_if $full (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $e)))
      (v128.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
        (call $unary_op (local.get $op) (v128.load (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2))))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $v)))
  (if (i32.lt_s (local.get $i) (local.get $e))
    (then (call $storep (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
      (call $unary_op (local.get $op)
        (call $loadp (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2))) (i32.sub (local.get $e) (local.get $i))))
      (i32.sub (local.get $e) (local.get $i))))))

;; unary_bwd(args, begin, end, tid): like unary. args (i32): 0 op, 4 x, 8 dy, 12 dx, 16 size.
(func $unary_bwd (export "unary_bwd") (param $args i32) (param $begin i32) (param $end i32) (param $tid i32)
  (local $op i32) (local $x i32) (local $dy i32) (local $dx i32) (local $i i32) (local $e i32) (local $k i32)
  (local.set $op (i32.load (local.get $args)))
  (local.set $x (i32.load offset=4 (local.get $args)))
  (local.set $dy (i32.load offset=8 (local.get $args)))
  (local.set $dx (i32.load offset=12 (local.get $args)))
  (local.set $i (i32.shl (local.get $begin) (i32.const 10)))
  (local.set $e (i32.shl (local.get $end) (i32.const 10)))
  (if (i32.gt_u (local.get $e) (i32.load offset=16 (local.get $args)))
    (then (local.set $e (i32.load offset=16 (local.get $args)))))
  (block $full
    (loop $v
      (br_if $full (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $e)))
      (v128.store (i32.add (local.get $dx) (i32.shl (local.get $i) (i32.const 2)))
        (call $unary_grad (local.get $op)
          (v128.load (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2))))
          (v128.load (i32.add (local.get $dy) (i32.shl (local.get $i) (i32.const 2))))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $v)))
  (if (i32.lt_s (local.get $i) (local.get $e))
    (then
      (local.set $k (i32.sub (local.get $e) (local.get $i)))
      (call $storep (i32.add (local.get $dx) (i32.shl (local.get $i) (i32.const 2)))
        (call $unary_grad (local.get $op)
          (call $loadp (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2))) (local.get $k))
          (call $loadp (i32.add (local.get $dy) (i32.shl (local.get $i) (i32.const 2))) (local.get $k)))
        (local.get $k)))))

;; The binary op codes: 0 add, 1 sub, 2 mul, 3 div, 4 maximum, 5 minimum.
(func $binary_op (param $op i32) (param $a v128) (param $b v128) (result v128)
  (block $minimum (block $maximum (block $div (block $mul (block $sub (block $add
    (br_table $add $sub $mul $div $maximum $minimum (local.get $op)))
    (return (f32x4.add (local.get $a) (local.get $b))))
    (return (f32x4.sub (local.get $a) (local.get $b))))
    (return (f32x4.mul (local.get $a) (local.get $b))))
    (return (f32x4.div (local.get $a) (local.get $b))))
    (return (f32x4.max (local.get $a) (local.get $b))))
  (f32x4.min (local.get $a) (local.get $b)))

;; binary(args, begin, end, tid): tasks are (row, block of `cb` columns) of out [n0, n1, n2]
;; (contiguous), t = row · blocks + block.
;; args (i32): 0 op, 4 a, 8 b, 12 out, 16 n0, 20 n1, 24 n2, 28 a strides (3, elements),
;; 40 b strides (3), 52 cb (a multiple of 4), 56 blocks = ceil(n2 / cb).
(func $binary (export "binary") (param $args i32) (param $begin i32) (param $end i32) (param $tid i32)
  (local $op i32) (local $n1 i32) (local $n2 i32) (local $ap i32) (local $bp i32) (local $outp i32)
  (local $as i32) (local $bs i32) (local $t i32) (local $k i32) (local $av v128) (local $bv v128)
  (local $cb i32) (local $blocks i32) (local $row i32) (local $col0 i32) (local $cols i32) (local $full i32)
  (local.set $op (i32.load (local.get $args)))
  (local.set $n1 (i32.load offset=20 (local.get $args)))
  (local.set $n2 (i32.load offset=24 (local.get $args)))
  (local.set $as (i32.load offset=36 (local.get $args)))
  (local.set $bs (i32.load offset=48 (local.get $args)))
  (local.set $cb (i32.load offset=52 (local.get $args)))
  (local.set $blocks (i32.load offset=56 (local.get $args)))
  (block $done
    (loop $tasks
      (br_if $done (i32.ge_u (local.get $begin) (local.get $end)))
      (local.set $row (i32.div_u (local.get $begin) (local.get $blocks)))
      (local.set $col0 (i32.mul (i32.rem_u (local.get $begin) (local.get $blocks)) (local.get $cb)))
      (local.set $cols (i32.sub (local.get $n2) (local.get $col0)))
      (if (i32.gt_s (local.get $cols) (local.get $cb)) (then (local.set $cols (local.get $cb))))
      (local.set $ap (i32.add (i32.load offset=4 (local.get $args)) (i32.shl (i32.add (i32.add
        (i32.mul (i32.div_u (local.get $row) (local.get $n1)) (i32.load offset=28 (local.get $args)))
        (i32.mul (i32.rem_u (local.get $row) (local.get $n1)) (i32.load offset=32 (local.get $args))))
        (i32.mul (local.get $col0) (local.get $as))) (i32.const 2))))
      (local.set $bp (i32.add (i32.load offset=8 (local.get $args)) (i32.shl (i32.add (i32.add
        (i32.mul (i32.div_u (local.get $row) (local.get $n1)) (i32.load offset=40 (local.get $args)))
        (i32.mul (i32.rem_u (local.get $row) (local.get $n1)) (i32.load offset=44 (local.get $args))))
        (i32.mul (local.get $col0) (local.get $bs))) (i32.const 2))))
      (local.set $outp (i32.add (i32.load offset=12 (local.get $args))
        (i32.shl (i32.add (i32.mul (local.get $row) (local.get $n2)) (local.get $col0)) (i32.const 2))))
      (local.set $t (i32.const 0))
      (if (i32.and (i32.le_u (local.get $as) (i32.const 1)) (i32.le_u (local.get $bs) (i32.const 1)))
        (then
          ;; Steps 0 or 1: whole vectors, then a partial one; a step-0 operand is a splat.
          (local.set $av (v128.load32_splat (local.get $ap)))
          (local.set $bv (v128.load32_splat (local.get $bp)))
          (local.set $full (i32.and (local.get $cols) (i32.const -4)))
          (block $vdone
            (br_if $vdone (i32.eqz (local.get $full)))
            (loop $v
              (if (local.get $as) (then (local.set $av (v128.load (i32.add (local.get $ap) (i32.shl (local.get $t) (i32.const 2)))))))
              (if (local.get $bs) (then (local.set $bv (v128.load (i32.add (local.get $bp) (i32.shl (local.get $t) (i32.const 2)))))))
              (v128.store (i32.add (local.get $outp) (i32.shl (local.get $t) (i32.const 2)))
                (call $binary_op (local.get $op) (local.get $av) (local.get $bv)))
              (br_if $v (i32.lt_s (local.tee $t (i32.add (local.get $t) (i32.const 4))) (local.get $full)))))
          (if (i32.lt_s (local.get $t) (local.get $cols))
            (then
              (local.set $k (i32.sub (local.get $cols) (local.get $t)))
              (if (local.get $as) (then (local.set $av (call $loadp (i32.add (local.get $ap) (i32.shl (local.get $t) (i32.const 2))) (local.get $k)))))
              (if (local.get $bs) (then (local.set $bv (call $loadp (i32.add (local.get $bp) (i32.shl (local.get $t) (i32.const 2))) (local.get $k)))))
              (call $storep (i32.add (local.get $outp) (i32.shl (local.get $t) (i32.const 2)))
                (call $binary_op (local.get $op) (local.get $av) (local.get $bv)) (local.get $k)))))
        (else
          (loop $s
            (f32.store (i32.add (local.get $outp) (i32.shl (local.get $t) (i32.const 2)))
              (f32x4.extract_lane 0 (call $binary_op (local.get $op)
                (v128.load32_splat (i32.add (local.get $ap) (i32.shl (i32.mul (local.get $t) (local.get $as)) (i32.const 2))))
                (v128.load32_splat (i32.add (local.get $bp) (i32.shl (i32.mul (local.get $t) (local.get $bs)) (i32.const 2)))))))
            (br_if $s (i32.lt_s (local.tee $t (i32.add (local.get $t) (i32.const 1))) (local.get $cols))))))
      (local.set $begin (i32.add (local.get $begin) (i32.const 1)))
      (br $tasks))))

;; copy(args, begin, end, tid): rows [begin, end) of the space [n0, n1, n2], 4-byte elements.
;; args (i32): 0 x, 4 out (offsets included), 8 n0, 12 n1, 16 n2, 20 x strides (3, elements),
;; 32 out strides (3).
(func $copy (export "copy") (param $args i32) (param $begin i32) (param $end i32) (param $tid i32)
  (local $n1 i32) (local $n2 i32) (local $xp i32) (local $op i32) (local $xs i32) (local $os i32) (local $t i32)
  (local.set $n1 (i32.load offset=12 (local.get $args)))
  (local.set $n2 (i32.load offset=16 (local.get $args)))
  (local.set $xs (i32.shl (i32.load offset=28 (local.get $args)) (i32.const 2)))
  (local.set $os (i32.shl (i32.load offset=40 (local.get $args)) (i32.const 2)))
  (block $done
    (loop $rows
      (br_if $done (i32.ge_u (local.get $begin) (local.get $end)))
      (local.set $xp (i32.add (i32.load (local.get $args)) (i32.shl (i32.add
        (i32.mul (i32.div_u (local.get $begin) (local.get $n1)) (i32.load offset=20 (local.get $args)))
        (i32.mul (i32.rem_u (local.get $begin) (local.get $n1)) (i32.load offset=24 (local.get $args)))) (i32.const 2))))
      (local.set $op (i32.add (i32.load offset=4 (local.get $args)) (i32.shl (i32.add
        (i32.mul (i32.div_u (local.get $begin) (local.get $n1)) (i32.load offset=32 (local.get $args)))
        (i32.mul (i32.rem_u (local.get $begin) (local.get $n1)) (i32.load offset=36 (local.get $args)))) (i32.const 2))))
      (if (i32.and (i32.eq (local.get $xs) (i32.const 4)) (i32.eq (local.get $os) (i32.const 4)))
        (then (memory.copy (local.get $op) (local.get $xp) (i32.shl (local.get $n2) (i32.const 2))))
        (else
          (local.set $t (i32.const 0))
          (loop $s
            (i32.store (local.get $op) (i32.load (local.get $xp)))
            (local.set $xp (i32.add (local.get $xp) (local.get $xs)))
            (local.set $op (i32.add (local.get $op) (local.get $os)))
            (br_if $s (i32.lt_s (local.tee $t (i32.add (local.get $t) (i32.const 1))) (local.get $n2))))))
      (local.set $begin (i32.add (local.get $begin) (i32.const 1)))
      (br $rows))))

;; adamw(args, begin, end, tid): one AdamW step (the kernel table's AdamwArgs) on elements
;; [1024·begin, 1024·end) ∩ [0, size), in place on param, m and v.
;; args: 0 param, 4 grad, 8 m, 12 v, 16 size (i32); 20 β1, 24 β2, 28 eps, 32 1 − lr·wd,
;; 36 lr / (1 − β1^step), 40 sqrt(1 − β2^step) (f32).
(func $adamw (export "adamw") (param $args i32) (param $begin i32) (param $end i32) (param $tid i32)
  (local $i i32) (local $e i32) (local $k i32) (local $o i32)
  (local $b1 v128) (local $c1 v128) (local $b2 v128) (local $c2 v128) (local $eps v128)
  (local $decay v128) (local $stepSize v128) (local $bc2 v128)
  (local $g v128) (local $m v128) (local $v v128) (local $p v128)
  (local.set $b1 (v128.load32_splat offset=20 (local.get $args)))
  (local.set $c1 (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $b1)))
  (local.set $b2 (v128.load32_splat offset=24 (local.get $args)))
  (local.set $c2 (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $b2)))
  (local.set $eps (v128.load32_splat offset=28 (local.get $args)))
  (local.set $decay (v128.load32_splat offset=32 (local.get $args)))
  (local.set $stepSize (v128.load32_splat offset=36 (local.get $args)))
  (local.set $bc2 (v128.load32_splat offset=40 (local.get $args)))
  (local.set $i (i32.shl (local.get $begin) (i32.const 10)))
  (local.set $e (i32.shl (local.get $end) (i32.const 10)))
  (if (i32.gt_u (local.get $e) (i32.load offset=16 (local.get $args)))
    (then (local.set $e (i32.load offset=16 (local.get $args)))))
  (block $done
    (loop $v4
      (br_if $done (i32.ge_u (local.get $i) (local.get $e)))
      (local.set $k (i32.sub (local.get $e) (local.get $i)))
      (local.set $o (i32.shl (local.get $i) (i32.const 2)))
      (local.set $g (call $loadp (i32.add (i32.load offset=4 (local.get $args)) (local.get $o)) (local.get $k)))
      (local.set $m (f32x4.add (f32x4.mul (local.get $b1)
        (call $loadp (i32.add (i32.load offset=8 (local.get $args)) (local.get $o)) (local.get $k)))
        (f32x4.mul (local.get $c1) (local.get $g))))
      (local.set $v (f32x4.add (f32x4.mul (local.get $b2)
        (call $loadp (i32.add (i32.load offset=12 (local.get $args)) (local.get $o)) (local.get $k)))
        (f32x4.mul (f32x4.mul (local.get $c2) (local.get $g)) (local.get $g))))
      (call $storep (i32.add (i32.load offset=8 (local.get $args)) (local.get $o)) (local.get $m) (local.get $k))
      (call $storep (i32.add (i32.load offset=12 (local.get $args)) (local.get $o)) (local.get $v) (local.get $k))
      (local.set $p (call $loadp (i32.add (i32.load (local.get $args)) (local.get $o)) (local.get $k)))
      (call $storep (i32.add (i32.load (local.get $args)) (local.get $o))
        (f32x4.sub (f32x4.mul (local.get $p) (local.get $decay))
          (f32x4.mul (local.get $stepSize) (f32x4.div (local.get $m)
            (f32x4.add (f32x4.div (f32x4.sqrt (local.get $v)) (local.get $bc2)) (local.get $eps)))))
        (local.get $k))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $v4))))
