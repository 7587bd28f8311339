/**
 * @bmojo/memory: B'MOJO's innovation-selection eidetic memory. The fixed causal predictor, the
 * innovation scores ε (parallel `innovationScores` and recurrent `InnovationTracker`), the running
 * top-m_e `EideticStore`, and the chunked selection built on it (`selectEidetic`).
 */
export {
  DEFAULT_PREDICTOR_LENGTH,
  assertPredictorLength,
  causalMeanPrediction,
  predictorCount,
} from "./predictor.js";
export {
  InnovationTracker,
  innovationScores,
  type InnovationDType,
  type InnovationOptions,
} from "./innovation.js";
export {
  EideticStore,
  type EideticEntry,
  type EideticStoreSnapshot,
  type OfferResult,
} from "./store.js";
export { selectEidetic, selectEideticBatch, topKBruteForce } from "./selection.js";
