-- Argo CD health check for whatsapp-operator.io/WhatsAppInstance.
--
-- The status is kstatus-shaped (docs/gitops.md): status.observedGeneration plus the
-- conditions Ready, Synced, Authorized, Reconciling and Stalled, each with
-- observedGeneration. This script maps it the way kstatus (Flux) does, so Argo CD and
-- Flux agree: Stalled=True is the only failure, Reconciling=True means "converging, wait",
-- Ready=True means everything the operator controls has converged.
--
-- Linking a phone is a human step. With the default readiness (spec.authorization.
-- requiredForReadiness: false) an instance whose settings are in sync but has no phone
-- linked yet is Ready=True and reported Healthy, with the linking hint in the message:
-- Suspended would hold every later sync wave (and the whole sync operation) until
-- someone scans a QR code, which is the opposite of what that setting asks for. Only
-- when the resource opts in with requiredForReadiness: true (Ready=False,
-- AwaitingAuthorization) is it Suspended "Waiting for a phone to be linked: ...";
-- then holding later waves is intended. Paused writes (Synced=False ReconcilePaused)
-- are Suspended too. Controller docs: docs/gitops.md and the README "Status" table.
local hs = {}

local function condition(kind)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  -- A numeric loop, not ipairs: scripts pasted into argocd-cm run without the Lua
  -- standard libraries unless resource.customizations.useOpenLibs is set.
  local conditions = obj.status.conditions
  for i = 1, #conditions do
    if conditions[i].type == kind then
      return conditions[i]
    end
  end
  return nil
end

local function text(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

if obj.status == nil or obj.status.conditions == nil or #obj.status.conditions == 0 then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator"
  return hs
end

if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= nil
    and obj.metadata.generation ~= obj.status.observedGeneration then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the latest spec"
  return hs
end

local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = text(stalled, stalled.reason)
  return hs
end

-- Checked before Ready, as kstatus does: an instance that is still starting may already
-- be Ready=True but is not settled yet.
local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = text(reconciling, reconciling.reason)
  return hs
end

local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready, "Ready")
  return hs
end

local authorized = condition("Authorized")
if ready ~= nil and ready.reason == "AwaitingAuthorization" and authorized ~= nil
    and authorized.status == "False" and authorized.reason == "NotAuthorized" then
  hs.status = "Suspended"
  local hint = text(authorized, "no phone is linked")
  if obj.status.linking ~= nil and obj.status.linking.message ~= nil
      and obj.status.linking.message ~= "" then
    hint = obj.status.linking.message
  end
  hs.message = "Waiting for a phone to be linked: " .. hint
  return hs
end

local synced = condition("Synced")
if synced ~= nil and synced.status == "False" and synced.reason == "ReconcilePaused" then
  hs.status = "Suspended"
  hs.message = text(synced, "Writes are paused by annotation")
  return hs
end

hs.status = "Progressing"
hs.message = text(ready, "Waiting for the operator")
return hs
