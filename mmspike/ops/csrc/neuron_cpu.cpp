// Multi-step spiking neurons (LIF, PLIF, I-LIF) on the CPU: forward and backward in one pass
// over the memory, each element's T steps in registers, elements split over threads.
//
// The formulas are those of mmspike/neurons/multistep.py (the reference): the same operations in
// the same order, so that spikes equal the reference's and gradients agree to rounding.
//   charge, decay_input:  H = V + (X - (V - V_reset)) / tau      (PLIF: * k, k = sigmoid(w))
//   charge, otherwise:    H = V - (V - V_reset) / tau + X        (PLIF: * k)
//   binary fire:          S = [H - V_th >= 0],     dS/dH = surrogate'(H - V_th)
//   integer fire (I-LIF): S = round(clamp(H, 0, D)), dS/dH = [0 <= H <= D]
//   hard reset (binary):  V = H (1 - S) + V_reset S;  soft reset (integer): V = H - S
// Backward (reverse over t; gV is the gradient reaching V[t]):
//   gH = gS S' + gV dV/dH;  gX = gH dH/dX;  gV[t-1] = gH dH/dV (+ external gradient of V[t-1])
//   PLIF: g(k) += gH dH/dk with dH/dk = X - (V[t-1] - V_reset) or V_reset - V[t-1].
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

constexpr int64_t kGrain = 8192;
// Elements whose T steps the backward runs together: their gradients of V and k and of H stay
// in the cache over the time loop.
constexpr int64_t kTile = 2048;

// The neuron kinds, each with the reference's order of operations in its charge.  The values
// mirror the Python enum mmspike.ops.neuron_kernels.NeuronKernelKind (a test compares them).
enum NeuronKernelKind : int {
  kLifDecay = 0,     // H = V + (X - (V - V_reset)) / tau
  kLifNoDecay = 1,   // H = V - (V - V_reset) / tau + X
  kPlifDecay = 2,    // H = V + (X - (V - V_reset)) * k
  kPlifNoDecay = 3,  // H = V - (V - V_reset) * k + X
  kIntegerLif = 4,   // H = V + (X - V) / tau, integer spikes, soft reset
};

template <typename T>
struct Constants {
  T rate, v_threshold, v_reset, alpha, levels, atan_scale, half_alpha, dh_dx, dh_dv;
};

// round half to even for 0 <= x < 2^22 (float) / 2^51 (double) in the default rounding mode:
// adding and subtracting 1.5 * 2^23 (2^52) leaves no fraction bits; a plain expression the
// compiler vectorises (std::nearbyint is a library call without SSE4.1)
template <typename T> inline T round_half_even(T x);
template <> inline float round_half_even<float>(float x) {
  const float magic = 12582912.0f;
  return (x + magic) - magic;
}
template <> inline double round_half_even<double>(double x) {
  const double magic = 6755399441055744.0;
  return (x + magic) - magic;
}

// exp for the sigmoid surrogate.  float: e^x = 2^n e^r with n = round(x log2 e) and
// |r| <= ln2 / 2 (r computed with ln 2 split in two parts so that n ln2 is exact), e^r by the
// degree-6 minimax polynomial of Moshier's Cephes expf (relative error about 1 ulp), 2^n
// written into the exponent bits.  Only multiplications, additions and bit operations: the
// compiler vectorises the backward loop, which with std::exp made one library call per element
// and took most of LIF's backward time.  x is clamped to [-87.3, 89] (n in [-126, 128]): below,
// 2^n stays normal; from 88.4 on (n = 128) it is inf, like std::exp's overflow, so the
// surrogate is exactly 0 there.
// double keeps std::exp (float64 is the precision reference of the tests).
template <typename T> inline T exp_for_surrogate(T x) { return std::exp(x); }
template <> inline float exp_for_surrogate<float>(float x) {
  x = x < -87.3f ? -87.3f : (x > 89.0f ? 89.0f : x);
  const float n = round_half_even<float>(x * 1.44269504088896341f);
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e_r = p * (r * r) + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float two_n;
  std::memcpy(&two_n, &bits, sizeof(two_n));
  return e_r * two_n;
}

template <int K, typename T>
inline T charge(T x, T v, const Constants<T>& c) {
  if (K == kLifDecay) return v + (x - (v - c.v_reset)) / c.rate;
  if (K == kLifNoDecay) return v - (v - c.v_reset) / c.rate + x;
  if (K == kPlifDecay) return v + (x - (v - c.v_reset)) * c.rate;
  if (K == kPlifNoDecay) return v - (v - c.v_reset) * c.rate + x;
  return v + (x - v) / c.rate;
}

template <int K, typename T>
inline T spike(T h, const Constants<T>& c) {
  if (K == kIntegerLif) {
    const T clamped = h < T(0) ? T(0) : (h > c.levels ? c.levels : h);
    return round_half_even<T>(clamped);
  }
  return static_cast<T>((h - c.v_threshold) >= T(0));
}

template <int K, bool Atan, typename T>
inline T spike_grad(T h, const Constants<T>& c) {
  if (K == kIntegerLif) return (h >= T(0) && h <= c.levels) ? T(1) : T(0);
  const T u = h - c.v_threshold;
  if (Atan) {
    const T z = c.atan_scale * u;
    return c.half_alpha / (T(1) + z * z);
  }
  const T sig = T(1) / (T(1) + exp_for_surrogate<T>(-(c.alpha * u)));
  return (T(1) - sig) * sig * c.alpha;
}

template <int K, typename T>
inline T reset(T h, T s, const Constants<T>& c) {
  if (K == kIntegerLif) return h - s;
  return h * (T(1) - s) + c.v_reset * s;
}

template <int K, bool Detach, typename T>
inline T reset_grad(T h, T s, T sg, const Constants<T>& c) {
  if (K == kIntegerLif) return Detach ? T(1) : T(1) - sg;
  return Detach ? T(1) - s : (T(1) - s) + (c.v_reset - h) * sg;
}

template <int K, typename T>
inline T rate_grad(T x, T v_prev, const Constants<T>& c) {
  return K == kPlifDecay ? x - (v_prev - c.v_reset) : c.v_reset - v_prev;
}

template <typename T>
Constants<T> make_constants(int kind, double rate, double v_threshold, double v_reset,
                            double alpha, double levels) {
  const bool divide = kind == kLifDecay || kind == kLifNoDecay || kind == kIntegerLif;
  const bool decay_input = kind != kLifNoDecay && kind != kPlifNoDecay;
  const double k = divide ? 1.0 / rate : rate;
  return Constants<T>{static_cast<T>(rate), static_cast<T>(v_threshold),
                      static_cast<T>(v_reset), static_cast<T>(alpha), static_cast<T>(levels),
                      static_cast<T>(M_PI / 2 * alpha), static_cast<T>(alpha / 2),
                      static_cast<T>(decay_input ? k : 1.0), static_cast<T>(1.0 - k)};
}

template <int K, bool KeepH, bool KeepVSeq, typename T>
void forward_impl(const T* __restrict__ x, const T* __restrict__ v0, T* __restrict__ spikes,
                  T* __restrict__ h_seq, T* __restrict__ v_out, int64_t steps, int64_t m,
                  const Constants<T> constants) {
  at::parallel_for(0, m, kGrain, [&](int64_t begin, int64_t end) {
    const Constants<T> c = constants;  // a local copy: no possible aliasing with the outputs
    const int64_t n = end - begin;
    std::vector<T> state(v0 + begin, v0 + end);
    T* __restrict__ v = state.data();
    for (int64_t t = 0; t < steps; ++t) {
      const T* __restrict__ xr = x + t * m + begin;
      T* __restrict__ sr = spikes + t * m + begin;
      T* __restrict__ hr = KeepH ? h_seq + t * m + begin : nullptr;
      T* __restrict__ vr = KeepVSeq ? v_out + t * m + begin : nullptr;
      for (int64_t j = 0; j < n; ++j) {
        const T h = charge<K>(xr[j], v[j], c);
        const T s = spike<K>(h, c);
        const T vn = reset<K>(h, s, c);
        sr[j] = s;
        if (KeepH) hr[j] = h;
        if (KeepVSeq) vr[j] = vn;
        v[j] = vn;
      }
    }
    if (!KeepVSeq) std::copy(state.begin(), state.end(), v_out + begin);
  });
}

template <int K, bool Atan, bool Detach, bool LearnRate, typename T>
void backward_impl(const T* __restrict__ h_seq, const T* __restrict__ v0,
                   const T* __restrict__ x, const T* __restrict__ grad_spikes,
                   const T* __restrict__ grad_v_seq, const T* __restrict__ grad_v_last,
                   T* __restrict__ grad_x, T* __restrict__ grad_v0, T* __restrict__ grad_rate,
                   int64_t steps, int64_t m, const Constants<T> constants) {
  at::parallel_for(0, m, kGrain, [&](int64_t begin, int64_t end) {
    const Constants<T> c = constants;
    std::vector<T> gv_vec(kTile), gr_vec(LearnRate ? kTile : 0), gh_vec(LearnRate ? kTile : 0);
    T* __restrict__ gv = gv_vec.data();
    T* __restrict__ gr = gr_vec.data();
    T* __restrict__ ghb = gh_vec.data();
    for (int64_t tile = begin; tile < end; tile += kTile) {
      const int64_t n = std::min(kTile, end - tile);
      if (grad_v_last) {
        std::copy(grad_v_last + tile, grad_v_last + tile + n, gv);
      } else {
        std::fill(gv, gv + n, T(0));
      }
      if (LearnRate) std::fill(gr, gr + n, T(0));
      for (int64_t t = steps - 1; t >= 0; --t) {
        const int64_t row = t * m + tile;
        const T* __restrict__ hr = h_seq + row;
        const T* __restrict__ gsr = grad_spikes + row;
        T* __restrict__ gxr = grad_x + row;
        if (grad_v_seq) {
          const T* __restrict__ gvr = grad_v_seq + row;
          for (int64_t j = 0; j < n; ++j) gv[j] += gvr[j];
        }
        for (int64_t j = 0; j < n; ++j) {
          const T h = hr[j];
          const T s = spike<K>(h, c);
          const T sg = spike_grad<K, Atan>(h, c);
          const T gh = gv[j] * reset_grad<K, Detach>(h, s, sg, c) + gsr[j] * sg;
          gxr[j] = gh * c.dh_dx;
          gv[j] = gh * c.dh_dv;
          if (LearnRate) ghb[j] = gh;
        }
        if (LearnRate) {
          // g(k) += gH dH/dk, dH/dk from X[t] and V[t-1] (recomputed from H[t-1], or v0), in a
          // loop of its own over the tile's gH with no pointer test inside: accumulated in the
          // loop above, it makes PLIF's backward 3.5x slower (140 ms against 40 ms at
          // [16, 2*256*56*56] on 2 CPU cores); the results are bitwise the same.
          const T* __restrict__ xr = x ? x + row : nullptr;
          if (t > 0) {
            const T* __restrict__ hp = h_seq + row - m;
            if (xr) {
              for (int64_t j = 0; j < n; ++j)
                gr[j] += ghb[j] * rate_grad<K>(xr[j], reset<K>(hp[j], spike<K>(hp[j], c), c), c);
            } else {
              for (int64_t j = 0; j < n; ++j)
                gr[j] += ghb[j] * rate_grad<K>(T(0), reset<K>(hp[j], spike<K>(hp[j], c), c), c);
            }
          } else {
            const T* __restrict__ v0r = v0 + tile;
            if (xr) {
              for (int64_t j = 0; j < n; ++j) gr[j] += ghb[j] * rate_grad<K>(xr[j], v0r[j], c);
            } else {
              for (int64_t j = 0; j < n; ++j) gr[j] += ghb[j] * rate_grad<K>(T(0), v0r[j], c);
            }
          }
        }
      }
      std::copy(gv, gv + n, grad_v0 + tile);
      if (LearnRate) std::copy(gr, gr + n, grad_rate + tile);
    }
  });
}

void check_input(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be a CPU tensor");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

}  // namespace

// Compile-time dispatch of runtime flags: WITH_BOOL(flag, NAME, body) runs body with a
// constexpr bool NAME equal to flag; WITH_KIND likewise for the neuron kind.
#define WITH_BOOL(flag, NAME, ...) \
  [&] {                            \
    if (flag) {                    \
      constexpr bool NAME = true;  \
      return __VA_ARGS__();        \
    }                              \
    constexpr bool NAME = false;   \
    return __VA_ARGS__();          \
  }()

#define WITH_KIND(kind, NAME, ...)                                                   \
  [&] {                                                                              \
    switch (kind) {                                                                  \
      case kLifDecay: { constexpr int NAME = kLifDecay; return __VA_ARGS__(); }       \
      case kLifNoDecay: { constexpr int NAME = kLifNoDecay; return __VA_ARGS__(); }   \
      case kPlifDecay: { constexpr int NAME = kPlifDecay; return __VA_ARGS__(); }     \
      case kPlifNoDecay: { constexpr int NAME = kPlifNoDecay; return __VA_ARGS__(); } \
      default: { constexpr int NAME = kIntegerLif; return __VA_ARGS__(); }            \
    }                                                                                \
  }()

// x [T, M], v0 [M] -> spikes [T, M], v_out ([T, M] when keep_v_seq, else [M]), h [T, M]
// (empty unless keep_h).  kind: see NeuronKernelKind; rate: tau (LIF, I-LIF) or k = 1/tau (PLIF).
std::vector<torch::Tensor> neuron_forward(torch::Tensor x, torch::Tensor v0, bool keep_v_seq,
                                          bool keep_h, int64_t kind, double rate,
                                          double v_threshold, double v_reset, bool atan,
                                          double alpha, double levels, bool detach_reset) {
  check_input(x, "x");
  check_input(v0, "v0");
  TORCH_CHECK(x.dim() == 2 && v0.dim() == 1 && v0.size(0) == x.size(1),
              "expected x [T, M] and v0 [M], got ", x.sizes(), " and ", v0.sizes());
  TORCH_CHECK(v0.scalar_type() == x.scalar_type(), "x and v0 must have the same dtype");
  TORCH_CHECK(kind >= kLifDecay && kind <= kIntegerLif, "unknown neuron kind ", kind);
  const int64_t steps = x.size(0), m = x.size(1);
  auto spikes = torch::empty_like(x);
  auto v_out = keep_v_seq ? torch::empty_like(x) : torch::empty_like(v0);
  auto h_seq = keep_h ? torch::empty_like(x) : torch::empty({0}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "mmspike_neuron_forward", [&] {
    const auto c = make_constants<scalar_t>(kind, rate, v_threshold, v_reset, alpha, levels);
    WITH_KIND(kind, K, [&] {
      WITH_BOOL(keep_h, KeepH, [&] {
        WITH_BOOL(keep_v_seq, KeepVSeq, [&] {
          forward_impl<K, KeepH, KeepVSeq, scalar_t>(
              x.data_ptr<scalar_t>(), v0.data_ptr<scalar_t>(), spikes.data_ptr<scalar_t>(),
              KeepH ? h_seq.data_ptr<scalar_t>() : nullptr, v_out.data_ptr<scalar_t>(), steps,
              m, c);
        });
      });
    });
  });
  return {spikes, v_out, h_seq};
}

// h [T, M], v0 [M], x ([T, M] for PLIF with decay_input and learn_rate, else empty),
// grad_spikes [T, M] (or empty: zeros), grad_v_out ([T, M] when v_seq_grad, else [M]; or
// empty) -> grad_x [T, M], grad_v0 [M], grad_rate ([M] per-element sums of gH dH/dk when
// learn_rate, else empty).
std::vector<torch::Tensor> neuron_backward(torch::Tensor h_seq, torch::Tensor v0,
                                           torch::Tensor x, torch::Tensor grad_spikes,
                                           torch::Tensor grad_v_out, bool v_seq_grad,
                                           bool learn_rate, int64_t kind, double rate,
                                           double v_threshold, double v_reset, bool atan,
                                           double alpha, double levels, bool detach_reset) {
  check_input(h_seq, "h_seq");
  check_input(v0, "v0");
  TORCH_CHECK(kind >= kLifDecay && kind <= kIntegerLif, "unknown neuron kind ", kind);
  const int64_t steps = h_seq.size(0), m = h_seq.size(1);
  if (grad_spikes.numel() == 0) grad_spikes = torch::zeros_like(h_seq);
  check_input(grad_spikes, "grad_spikes");
  const bool has_gv = grad_v_out.numel() > 0;
  if (has_gv) check_input(grad_v_out, "grad_v_out");
  TORCH_CHECK(!learn_rate || kind == kPlifDecay || kind == kPlifNoDecay,
              "a learnable rate is only implemented for PLIF");
  const bool needs_x = learn_rate && kind == kPlifDecay;
  if (needs_x) check_input(x, "x");
  auto grad_x = torch::empty_like(h_seq);
  auto grad_v0 = torch::empty_like(v0);
  auto grad_rate = learn_rate ? torch::empty_like(v0) : torch::empty({0}, v0.options());
  AT_DISPATCH_FLOATING_TYPES(h_seq.scalar_type(), "mmspike_neuron_backward", [&] {
    const auto c = make_constants<scalar_t>(kind, rate, v_threshold, v_reset, alpha, levels);
    const scalar_t* gv_seq = has_gv && v_seq_grad ? grad_v_out.data_ptr<scalar_t>() : nullptr;
    const scalar_t* gv_last = has_gv && !v_seq_grad ? grad_v_out.data_ptr<scalar_t>() : nullptr;
    WITH_KIND(kind, K, [&] {
      WITH_BOOL(atan, Atan, [&] {
        WITH_BOOL(detach_reset, Detach, [&] {
          WITH_BOOL(learn_rate, LearnRate, [&] {
            backward_impl<K, Atan, Detach, LearnRate, scalar_t>(
                h_seq.data_ptr<scalar_t>(), v0.data_ptr<scalar_t>(),
                needs_x ? x.data_ptr<scalar_t>() : nullptr, grad_spikes.data_ptr<scalar_t>(),
                gv_seq, gv_last, grad_x.data_ptr<scalar_t>(), grad_v0.data_ptr<scalar_t>(),
                LearnRate ? grad_rate.data_ptr<scalar_t>() : nullptr, steps, m, c);
          });
        });
      });
    });
  });
  return {grad_x, grad_v0, grad_rate};
}

// Per-time-step BatchNorm on a contiguous [T, M, C] block (mmspike/ops/temporal_norm.py):
// statistics per (t, c) over the M rows, two passes over the memory forward and two backward,
// the C channels of a row in the vectorised inner loop, the T steps split over threads.
// Sums are accumulated in double (float input) around a per-channel shift (the first row), so
// that var = E[(x - s)^2] - E[x - s]^2 does not cancel when |mean| >> std.
template <typename scalar_t>
void temporal_bn_stats(const scalar_t* x, int64_t m, int64_t c, double* shift, double* sum,
                       double* sumsq) {
  for (int64_t j = 0; j < c; ++j) {
    shift[j] = static_cast<double>(x[j]);
    sum[j] = 0.0;
    sumsq[j] = 0.0;
  }
  for (int64_t i = 0; i < m; ++i) {
    const scalar_t* row = x + i * c;
    for (int64_t j = 0; j < c; ++j) {
      const double d = static_cast<double>(row[j]) - shift[j];
      sum[j] += d;
      sumsq[j] += d * d;
    }
  }
}

// x [T, M, C], weight/bias [T, C] or empty, eps -> y [T, M, C], mean [T, C], var [T, C]
// (biased), invstd [T, C].
std::vector<torch::Tensor> temporal_bn_forward(torch::Tensor x, torch::Tensor weight,
                                               torch::Tensor bias, double eps) {
  check_input(x, "x");
  TORCH_CHECK(x.dim() == 3, "temporal_bn_forward: x must be [T, M, C]");
  const int64_t steps = x.size(0), m = x.size(1), c = x.size(2);
  const bool has_w = weight.numel() > 0, has_b = bias.numel() > 0;
  if (has_w) check_input(weight, "weight");
  if (has_b) check_input(bias, "bias");
  auto y = torch::empty_like(x);
  auto stat_opts = x.options();
  auto mean = torch::empty({steps, c}, stat_opts);
  auto var = torch::empty({steps, c}, stat_opts);
  auto invstd = torch::empty({steps, c}, stat_opts);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "mmspike_temporal_bn_forward", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t* yp = y.data_ptr<scalar_t>();
    const scalar_t* wp = has_w ? weight.data_ptr<scalar_t>() : nullptr;
    const scalar_t* bp = has_b ? bias.data_ptr<scalar_t>() : nullptr;
    scalar_t* meanp = mean.data_ptr<scalar_t>();
    scalar_t* varp = var.data_ptr<scalar_t>();
    scalar_t* invp = invstd.data_ptr<scalar_t>();
    at::parallel_for(0, steps, 1, [&](int64_t begin, int64_t end) {
      std::vector<double> shift(c), sum(c), sumsq(c);
      std::vector<scalar_t> scale(c), offset(c);
      for (int64_t t = begin; t < end; ++t) {
        const scalar_t* xt = xp + t * m * c;
        temporal_bn_stats(xt, m, c, shift.data(), sum.data(), sumsq.data());
        for (int64_t j = 0; j < c; ++j) {
          const double mean_shifted = sum[j] / m;
          const double v = std::max(sumsq[j] / m - mean_shifted * mean_shifted, 0.0);
          const scalar_t mu = static_cast<scalar_t>(shift[j] + mean_shifted);
          const scalar_t inv = static_cast<scalar_t>(1.0 / std::sqrt(v + eps));
          meanp[t * c + j] = mu;
          varp[t * c + j] = static_cast<scalar_t>(v);
          invp[t * c + j] = inv;
          scale[j] = wp ? inv * wp[t * c + j] : inv;
          offset[j] = (bp ? bp[t * c + j] : scalar_t(0)) - mu * scale[j];
        }
        scalar_t* yt = yp + t * m * c;
        for (int64_t i = 0; i < m; ++i) {
          const scalar_t* row = xt + i * c;
          scalar_t* out = yt + i * c;
          for (int64_t j = 0; j < c; ++j) out[j] = row[j] * scale[j] + offset[j];
        }
      }
    });
  });
  return {y, mean, var, invstd};
}

// grad_y, x [T, M, C], mean/invstd [T, C], weight [T, C] or empty -> grad_x [T, M, C] (empty
// unless need_grad_x), sum_dy [T, C], sum_dy_xhat [T, C]:
//   dx = w invstd (dy - sum_dy / M - xhat sum_dy_xhat / M),  xhat = (x - mean) invstd.
std::vector<torch::Tensor> temporal_bn_backward(torch::Tensor grad_y, torch::Tensor x,
                                                torch::Tensor mean, torch::Tensor invstd,
                                                torch::Tensor weight, bool need_grad_x) {
  check_input(grad_y, "grad_y");
  check_input(x, "x");
  check_input(mean, "mean");
  check_input(invstd, "invstd");
  const int64_t steps = x.size(0), m = x.size(1), c = x.size(2);
  const bool has_w = weight.numel() > 0;
  if (has_w) check_input(weight, "weight");
  auto grad_x = need_grad_x ? torch::empty_like(x) : torch::empty({0}, x.options());
  auto sum_dy = torch::empty({steps, c}, x.options());
  auto sum_dy_xhat = torch::empty({steps, c}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "mmspike_temporal_bn_backward", [&] {
    const scalar_t* gp = grad_y.data_ptr<scalar_t>();
    const scalar_t* xp = x.data_ptr<scalar_t>();
    const scalar_t* meanp = mean.data_ptr<scalar_t>();
    const scalar_t* invp = invstd.data_ptr<scalar_t>();
    const scalar_t* wp = has_w ? weight.data_ptr<scalar_t>() : nullptr;
    scalar_t* gxp = need_grad_x ? grad_x.data_ptr<scalar_t>() : nullptr;
    scalar_t* sdyp = sum_dy.data_ptr<scalar_t>();
    scalar_t* sdxp = sum_dy_xhat.data_ptr<scalar_t>();
    at::parallel_for(0, steps, 1, [&](int64_t begin, int64_t end) {
      std::vector<double> sdy(c), sdx(c);
      std::vector<scalar_t> mu(c), coef_dy(c), coef_x(c), coef_0(c);
      for (int64_t t = begin; t < end; ++t) {
        const scalar_t* gt = gp + t * m * c;
        const scalar_t* xt = xp + t * m * c;
        for (int64_t j = 0; j < c; ++j) {
          sdy[j] = 0.0;
          sdx[j] = 0.0;
          mu[j] = meanp[t * c + j];
        }
        for (int64_t i = 0; i < m; ++i) {
          const scalar_t* grow = gt + i * c;
          const scalar_t* xrow = xt + i * c;
          for (int64_t j = 0; j < c; ++j) {
            const double g = static_cast<double>(grow[j]);
            sdy[j] += g;
            sdx[j] += g * (static_cast<double>(xrow[j]) - static_cast<double>(mu[j]));
          }
        }
        for (int64_t j = 0; j < c; ++j) {
          const double inv = static_cast<double>(invp[t * c + j]);
          const double s_dy = sdy[j];
          const double s_dxhat = sdx[j] * inv;
          sdyp[t * c + j] = static_cast<scalar_t>(s_dy);
          sdxp[t * c + j] = static_cast<scalar_t>(s_dxhat);
          const double scale = wp ? inv * static_cast<double>(wp[t * c + j]) : inv;
          const double cx = -scale * inv * s_dxhat / m;
          coef_dy[j] = static_cast<scalar_t>(scale);
          coef_x[j] = static_cast<scalar_t>(cx);
          coef_0[j] = static_cast<scalar_t>(-scale * s_dy / m - cx * static_cast<double>(mu[j]));
        }
        if (!need_grad_x) continue;
        scalar_t* gxt = gxp + t * m * c;
        for (int64_t i = 0; i < m; ++i) {
          const scalar_t* grow = gt + i * c;
          const scalar_t* xrow = xt + i * c;
          scalar_t* out = gxt + i * c;
          for (int64_t j = 0; j < c; ++j)
            out[j] = grow[j] * coef_dy[j] + xrow[j] * coef_x[j] + coef_0[j];
        }
      }
    });
  });
  return {grad_x, sum_dy, sum_dy_xhat};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("neuron_forward", &neuron_forward, "multi-step neuron forward (CPU)");
  m.def("neuron_backward", &neuron_backward, "multi-step neuron backward (CPU)");
  m.def("temporal_bn_forward", &temporal_bn_forward, "per-time-step BatchNorm forward (CPU)");
  m.def("temporal_bn_backward", &temporal_bn_backward,
        "per-time-step BatchNorm backward (CPU)");
}
