/**
 * The playground page: a backend choice shared by the two panels (training on MQAR, generation
 * from the character model), and the badge and notice that say which backend the workers got.
 */
import "./style.css";
import { backendLabel, webGpuNotice } from "./backend-notice.js";
import { byId } from "./dom.js";
import { setupGeneration } from "./generation-panel.js";
import { BACKEND_CHOICES, type BackendChoice, type BackendInfo } from "./protocol.js";
import { setupTraining } from "./training-panel.js";

const choice = byId<HTMLSelectElement>("backend-choice");
const badge = byId<HTMLElement>("backend");
const notice = byId<HTMLElement>("backend-notice");

function backendChoice(): BackendChoice {
  const value = choice.value;
  if (!(BACKEND_CHOICES as readonly string[]).includes(value)) {
    throw new Error(`unknown backend choice "${value}"`);
  }
  return value as BackendChoice;
}

function onBackend(info: BackendInfo): void {
  badge.textContent = `backend: ${backendLabel(info)}`;
  badge.dataset.backend = info.name;
  if (info.threads === undefined) delete badge.dataset.threads;
  else badge.dataset.threads = String(info.threads);
  const text = webGpuNotice(info);
  notice.hidden = text === null;
  notice.textContent = text ?? "";
}

setupTraining({ backendChoice, onBackend });
setupGeneration({ backendChoice, onBackend });
