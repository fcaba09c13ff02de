"use strict";
(function(){
var S={
en:{findings:"Open findings",assets:"Assets",gateway:"Gateway",ok:"Gateway OK",degraded:"Gateway degraded",offline:"Gateway unreachable",unknown:"Connecting…",
updated:"updated",lost:"Offline, data from",
login:"Log in",user:"User name",pass:"Password",signin:"Log in",badLogin:"Wrong user name or password.",logout:"Log out",signedAs:"Signed in as",
ack:"Acknowledge",acked:"Acknowledged",ackedBy:"Acknowledged by",notes:"Field notes",addNote:"Add note",notePh:"What did you find on site?",photo:"Add photo",
trend:"Trend",baseline:"Baseline",bl_learning:"learning",bl_ready:"ready",bl_stale:"stale, re-learn it",samples:"samples",trends:"Show trends",hideTrends:"Hide trends",noTrend:"No history yet.",
ask:"Search references",askGo:"Search",askNA:"Search is not available on this gateway.",askNone:"No passage found.",nearest:"nearest match",
k_acknowledged:"acknowledged",never:"Connection lost, no data received yet",apierr:"Server error",
noFind:"No open findings.",loading:"Loading…",first:"First seen",last:"Last seen",show:"Show evidence and references",hide:"Hide details",
evidence:"Evidence",derived:"Derived",criterion:"Criterion",version:"version",action:"Recommended action",citations:"References",
history:"History",edition:"edition",clause:"Clause",conv:"Edge convention",ref:"Ref",
verified:"✓ verified",secondary:"⚠ secondary sources",model:"◆ model",
vx_verified:"Two or more public sources agree.",vx_secondary:"Only secondary sources: check before relying on it.",vx_model:"Statistical model, not a standard.",
critical:"Critical",high:"High",medium:"Medium",low:"Low",none:"Normal",open:"open",
fault:"Fault",normal:"Normal",abstain:"Abstains",
r_no_data:"No data",r_stale:"Data too old",r_bad_quality:"Bad data quality",r_insufficient_data:"Not enough data yet",
r_below_applicability:"Below applicability",r_out_of_domain:"Outside valid range",r_not_running:"Machine not running",r_model_unavailable:"Model unavailable",
c_transformer:"Transformer",c_pump_skid:"Pump skid",
q_comm_error:"comm error",q_decode_error:"decode error",q_exception:"device exception",q_out_of_range:"out of range",q_stale:"stale",q_uncertain:"uncertain",q_bad:"bad (publisher)",q_inexact:"inexact (64-bit)",
version_:"Version",uptime:"Uptime",sources:"Sources",models:"Models",store:"Store",samples:"samples",connected:"connected",disconnected:"DISCONNECTED",
errors:"errors",threshold:"threshold",modelErrors:"Model errors",disabled:"Disabled criteria",lastEval:"Last evaluation",
k_opened:"opened",k_changed:"changed",k_cleared:"cleared",k_escalated:"escalated",none_:"none",
r_imprecise:"Inputs only known as bounds",r_methods_disagree:"Methods disagree",methods:"Methods",
ro_primary:"primary",ro_confirmation:"confirms",ro_level:"levels",ro_supplementary:"remark",ro_criterion:"criterion",
agree_true:"agrees",agree_false:"disagrees",vk_diagnosis:"Diagnosis",vk_normal:"Normal",vk_methods_disagree:"Methods disagree: no diagnosis",vk_insufficient:"Not enough evidence",
confirmedBy:"confirmed by",of_:"of",next:"Next step"},
zh:{findings:"未处理的发现",assets:"设备",gateway:"网关",ok:"网关正常",degraded:"网关降级",offline:"网关无法连接",unknown:"正在连接…",
updated:"更新于",lost:"离线，数据截至",
login:"登录",user:"用户名",pass:"密码",signin:"登录",badLogin:"用户名或密码错误。",logout:"退出登录",signedAs:"当前用户",
ack:"确认",acked:"已确认",ackedBy:"确认人",notes:"现场记录",addNote:"添加记录",notePh:"现场发现了什么？",photo:"添加照片",
trend:"趋势",baseline:"基线",bl_learning:"学习中",bl_ready:"就绪",bl_stale:"已过期，请重新学习",samples:"个样本",trends:"查看趋势",hideTrends:"收起趋势",noTrend:"暂无历史数据。",
ask:"查询标准依据",askGo:"查询",askNA:"此网关不支持查询。",askNone:"未找到相关条文。",nearest:"最接近的结果",
k_acknowledged:"已确认",never:"连接中断，尚未收到数据",apierr:"服务器错误",
noFind:"当前没有未处理的发现。",loading:"加载中…",first:"首次发现",last:"最近一次",show:"查看证据与依据",hide:"收起详情",
evidence:"证据",derived:"推导值",criterion:"判据",version:"版本",action:"建议措施",citations:"引用依据",
history:"历史",edition:"版次",clause:"条款",conv:"边界取值约定",ref:"依据",
verified:"✓ 已核实",secondary:"⚠ 二手来源",model:"◆ 模型",
vx_verified:"两个及以上公开来源一致。",vx_secondary:"仅有二手来源：使用前请核对。",vx_model:"统计模型，不是标准。",
critical:"紧急",high:"高",medium:"中",low:"低",none:"正常",open:"项未处理",
fault:"故障",normal:"正常",abstain:"不作判断",
r_no_data:"无数据",r_stale:"数据过旧",r_bad_quality:"数据质量差",r_insufficient_data:"数据尚不足",
r_below_applicability:"低于适用范围",r_out_of_domain:"超出有效范围",r_not_running:"机器未运行",r_model_unavailable:"模型不可用",
c_transformer:"变压器",c_pump_skid:"泵组",
q_comm_error:"通信错误",q_decode_error:"解码错误",q_exception:"设备异常码",q_out_of_range:"超出有效范围",q_stale:"数据过期",q_uncertain:"不确定",q_bad:"坏值（发布方标记）",q_inexact:"不精确（64 位整数）",
version_:"版本",uptime:"运行时长",sources:"数据源",models:"模型",store:"存储",samples:"个样本",connected:"已连接",disconnected:"未连接",
errors:"错误",threshold:"阈值",modelErrors:"模型错误",disabled:"已停用的判据",lastEval:"最近评估",
k_opened:"开启",k_changed:"变化",k_cleared:"清除",k_escalated:"升级",none_:"无",
r_imprecise:"输入仅知上限",r_methods_disagree:"各方法结论不一致",methods:"各方法结论",
ro_primary:"主方法",ro_confirmation:"印证",ro_level:"含量",ro_supplementary:"补充",ro_criterion:"判据",
agree_true:"一致",agree_false:"不一致",vk_diagnosis:"诊断",vk_normal:"正常",vk_methods_disagree:"各方法结论不一致：不作诊断",vk_insufficient:"证据不足",
confirmedBy:"印证",of_:"/",next:"下一步"}};
var RANK={critical:4,high:3,medium:2,low:1};
var POLL=2000,TIMEOUT=4500;
var lang=null;
try{lang=localStorage.getItem("edgecite.lang")}catch(e){}
if(lang!=="en"&&lang!=="zh")lang=/^zh/i.test(navigator.language||"")?"zh":"en";
var st={health:null,assets:null,findings:null,details:{},notes:{},hist:{},okAt:null,err:null,tried:false,auth:null,me:null};
var drafts={},trendsOpen={};
try{JSON.parse(localStorage.getItem("edgecite.okAt")||"null")}catch(e){}
var open={};
try{(JSON.parse(sessionStorage.getItem("edgecite.open")||"[]")).forEach(function(k){open[k]=1})}catch(e){}
function t(k){var v=S[lang][k];return v===undefined?(S.en[k]===undefined?k:S.en[k]):v}
function $(id){return document.getElementById(id)}
// Build elements with textContent only: API strings are never parsed as HTML.
function h(tag,attrs){var e=document.createElement(tag),i,c;
 if(attrs)for(var k in attrs){var v=attrs[k];if(v==null||v===false)continue;
  if(k==="cls")e.className=v;else if(k==="on")e.addEventListener("click",v);else e.setAttribute(k,v===true?"":String(v))}
 for(i=2;i<arguments.length;i++){c=arguments[i];add(e,c)}return e}
function add(e,c){if(c==null||c===false)return;if(Array.isArray(c)){c.forEach(function(x){add(e,x)});return}
 e.appendChild(typeof c==="object"?c:document.createTextNode(String(c)))}
function pad(n){return(n<10?"0":"")+n}
function hms(d){return pad(d.getHours())+":"+pad(d.getMinutes())+":"+pad(d.getSeconds())}
function hm(d){return pad(d.getHours())+":"+pad(d.getMinutes())}
function tm(s){if(!s)return"—";var d=new Date(s);if(isNaN(d))return String(s);var n=new Date();
 return (d.toDateString()===n.toDateString()?"":(d.getFullYear()!==n.getFullYear()?d.getFullYear()+"-":"")+pad(d.getMonth()+1)+"-"+pad(d.getDate())+" ")+hms(d)}
function num(v){if(v==null||typeof v!=="number"||!isFinite(v))return"—";var a=Math.abs(v);
 var d=a>=1000?0:a>=10?1:a>=1?2:a===0?0:3;return v.toFixed(d)}
function unit(u){return u==="degC"?"°C":(u||"")}
function vu(v,u){u=unit(u);if(num(v)==="—")return"—";return num(v)+(u?(u==="%"?" %":" "+u):"")}
function sevName(s){return RANK[s]?t(s):t("none")}
function L(o){if(!o)return"";if(typeof o==="string")return o;return o[lang]||o.en||o.zh||""}
// A text field in the current language: its `_i18n` pair, else `_zh` beside it, else as sent.
function LT(o,k){if(!o)return"";if(o[k+"_i18n"])return L(o[k+"_i18n"]);return lang==="zh"&&o[k+"_zh"]||L(o[k])}
function Q(p){return p+(p.indexOf("?")<0?"?":"&")+"lang="+lang}
function qflag(q){if(!q||q==="good")return null;var k=/^exception/.test(q)?"q_exception":"q_"+q;
 return h("span",{cls:"q"},S[lang][k]?t(k)+(k==="q_exception"?" "+q.split(":")[1]:""):q)}
function vbadge(v){var k=v==="verified"||v==="secondary"||v==="model"?v:null;
 return h("span",{cls:"vb v-"+(k||"secondary"),"data-testid":"verification","data-verification":v||"",title:k?t("vx_"+k):""},k?t(k):String(v||"?"))}
function labels(){var m={};(st.assets||[]).forEach(function(a){(a.values||[]).forEach(function(v){m[a.id+"|"+v.role]=v})});return m}
function lab(m,asset,role){var v=m[asset+"|"+role];return v?(lang==="zh"?v.label_zh||v.label_en:v.label_en||v.label_zh)||role:role}
function assetName(id){var a=(st.assets||[]).filter(function(x){return x.id===id})[0];return a?id+" · "+a.name:id}

function renderStatic(){document.documentElement.lang=lang==="zh"?"zh-CN":"en";
 $("lang").textContent=lang==="zh"?"EN":"中文";$("lang").setAttribute("aria-label",lang==="zh"?"Switch to English":"切换到中文");
 $("h-find").textContent=t("findings");$("h-assets").textContent=t("assets");$("h-gw").textContent=t("gateway");
 $("h-ask").textContent=t("ask");$("askgo").textContent=t("askGo");$("h-login").textContent=t("login");$("l-user").textContent=t("user");
 $("l-pass").textContent=t("pass");$("login-go").textContent=t("signin");
 var out=st.auth===false;$("login").hidden=!out;$("app").hidden=out}

function renderHeader(){var hz=st.health;
 $("site").textContent=hz&&hz.site&&hz.site.name?hz.site.name:"edgecite";
 document.title=(hz&&hz.site&&hz.site.name?hz.site.name+" · ":"")+"edgecite";
 var s=st.err&&!st.err.api?"offline":st.err?"degraded":hz?((hz.status==="ok"||hz.status==="healthy")?"ok":"degraded"):"unknown";
 var p=$("health");p.className="pill p-"+s;p.textContent=t(s);
 $("updated").textContent=st.okAt?t("updated")+" "+hms(st.okAt):"";
 var o=$("offline");
 if(st.err){o.hidden=false;o.textContent=(st.err.api?t("apierr")+": "+st.err.msg+". ":"")+(st.okAt?t("lost")+" "+hm(st.okAt):t("never"))}
 else o.hidden=true}

function findingCard(f,m){var sev=RANK[f.severity]?f.severity:"none",id=String(f.id),ex=!!open[id];
 var c0=(f.citations||[])[0];
 var ak=f.acknowledged;
 var card=h("article",{cls:"card s-"+sev,"data-testid":"finding","data-code":f.code,"data-state":f.state,"data-id":id,"data-severity":f.severity,"data-acked":ak?"true":"false"},
  h("div",{cls:"row"},h("span",{cls:"pill b-"+sev},sevName(f.severity)),ak?h("span",{cls:"pill b-ack","data-testid":"acked-pill"},"✓ "+t("acked")):null,h("span",{cls:"asset"},assetName(f.asset))),
  h("div",{cls:"title"},LT(f,"title")),
  h("div",{cls:"row"},h("span",{cls:"code"},f.code),f.verification?vbadge(f.verification):null),
  h("div",{cls:"meta"},t("first")+" "+tm(f.first_seen)+" · "+t("last")+" "+tm(f.last_seen)),
  c0?h("div",{cls:"ref","data-testid":"first-ref"},t("ref")+": ",h("b",null,c0.reference_id)," · ",LT(c0,"clause")):null,
  h("button",{type:"button",cls:"xbtn","data-testid":"expand","aria-expanded":ex?"true":"false",on:function(){
   if(open[id])delete open[id];else open[id]=1;
   try{sessionStorage.setItem("edgecite.open",JSON.stringify(Object.keys(open)))}catch(e){}
   renderFindings();if(open[id])loadDetail(id)}},(ex?"▴ "+t("hide"):"▾ "+t("show"))));
 if(ex)card.appendChild(findingBody(f,m));
 return card}

function TT(x){return x?(lang==="zh"?x.zh||x.en:x.en||x.zh):""}
/* A verdict's methods: each criterion of the domain with its own view (issue 12). */
function methodsList(list,vd){if(!list||!list.length)return null;
 return h("div",{cls:"sec","data-testid":"methods"},h("h3",null,t("methods")),
  vd?h("div",{cls:"det","data-testid":"verdict-kind","data-kind":vd.kind},t("vk_"+vd.kind)+(vd.kind==="diagnosis"&&vd.of?" · "+t("confirmedBy")+" "+vd.confirmed_by+" "+t("of_")+" "+vd.of:"")+(vd.next?" · "+t("next")+": "+TT(vd.next):"")):null,
  list.map(function(x){return h("div",{cls:"crit","data-testid":"method","data-criterion":x.criterion,"data-role":x.role,"data-status":x.status},
   h("div",{cls:"row"},h("span",{cls:"st st-"+x.status},S.en[x.status]?t(x.status):x.status),h("span",{cls:"ctl"},TT(x.title)),x.verification?vbadge(x.verification):null,
    h("span",{cls:"meta"},t("ro_"+x.role)),x.agrees!=null?h("span",{cls:"pill","data-testid":"agrees"},t("agree_"+x.agrees)):null),
   x.code?h("div",{cls:"code"},x.code+(x.family?" · "+x.family:"")):null,
   x.status==="abstain"&&x.reason?h("div",{cls:"det why"},S.en["r_"+x.reason]?t("r_"+x.reason):x.reason):null,
   h("div",{cls:"det","data-testid":"method-summary"},TT(x.summary)))}))}

function findingBody(f,m){var ev=f.evidence||{},id=String(f.id),cr=f.criterion||{};
 var body=h("div",{"data-testid":"details"});
 body.appendChild(h("div",{cls:"sec"},h("h3",null,t("evidence")),
  h("table",null,h("tbody",null,(ev.values||[]).map(function(v){return h("tr",null,
   h("td",null,lab(m,f.asset,v.role),qflag(v.quality)),h("td",{cls:"n"},vu(v.value,v.unit)),h("td",{cls:"t"},tm(v.ts)))}))),
  (ev.derived||[]).length?h("div",{cls:"sec"},h("h3",null,t("derived")),h("table",null,h("tbody",null,ev.derived.map(function(d){
   return h("tr",null,h("td",null,LT(d,"name")),h("td",{cls:"n"},vu(d.value,LT(d,"unit"))))})))):null,
  ev.summary?h("div",{cls:"sum","data-testid":"summary"},LT(ev,"summary")):null));
 var ml=methodsList(ev.methods,ev.verdict);if(ml)body.appendChild(ml);
 var v0=(ev.values||[])[0];
 if(v0){var hk=f.asset+"|"+v0.role;body.appendChild(h("div",{cls:"sec","data-testid":"trend"},h("h3",null,t("trend")+" · "+lab(m,f.asset,v0.role)),chart(st.hist[hk],v0.unit)));loadHist(f.asset,v0.role)}
 body.appendChild(h("div",{cls:"sec"},h("h3",null,t("criterion")),
  h("div",null,h("span",{cls:"code"},cr.id||"")," · "+t("version")+" "+(cr.version||"")," ",cr.verification?vbadge(cr.verification):null),
  cr.title?h("div",{cls:"det","data-testid":"criterion-title"},LT(cr,"title")):null));
 body.appendChild(h("div",{cls:"sec"},h("h3",null,t("action")),h("div",{cls:"act"},LT(f,"recommended_action"))));
 body.appendChild(h("div",{cls:"sec"},h("h3",null,t("citations")),(f.citations||[]).map(function(c){
  return h("div",{cls:"cit c-"+c.verification,"data-testid":"citation","data-ref":c.reference_id},
   h("div",{cls:"row"},vbadge(c.verification),h("span",{cls:"vx"},S.en["vx_"+c.verification]?t("vx_"+c.verification):"")),
   h("p",{cls:"ct"},c.title),
   h("div",{cls:"meta"},h("b",{cls:"code"},c.reference_id),c.edition?" · "+t("edition")+" "+c.edition:""),
   h("div",{"data-testid":"clause"},h("b",null,t("clause")+": "),LT(c,"clause")),
   h("p",null,lang==="zh"?c.passage_zh||c.passage_en:c.passage_en||c.passage_zh),
   c.edge_convention?h("div",{cls:"conv"},h("b",null,t("conv")+": "),c.edge_convention):null)})));
 var d=st.details[id];
 if(d&&d.events&&d.events.length)body.appendChild(h("div",{cls:"sec"},h("h3",null,t("history")),d.events.map(function(e){
  return h("div",{cls:"ev"},h("b",null,tm(e.ts)+" "+(S.en["k_"+e.kind]?t("k_"+e.kind):e.kind)+" "),h("span",{cls:"code"},e.code),e.severity?" ("+sevName(e.severity)+") ":" ",LT(e,"summary"))})));
 body.appendChild(fieldSection(f));
 return body}

function refresh(){Object.keys(open).forEach(function(k){loadDetail(k)});poll()}
function canWrite(){return st.me&&(st.me.role==="technician"||st.me.role==="admin")}
function fieldSection(f){var id=String(f.id),ak=f.acknowledged,sec=h("div",{cls:"sec"});
 if(ak)sec.appendChild(h("div",{cls:"ackd","data-testid":"acked"},"✓ "+t("ackedBy")+" "+ak.by+" · "+tm(ak.at)+(ak.comment?" · "+ak.comment:"")));
 else if(canWrite())sec.appendChild(h("button",{type:"button",cls:"xbtn on","data-testid":"ack",on:function(ev){ev.target.disabled=true;
  send("POST","/api/v1/findings/"+id+"/ack",{}).then(function(d){if(d)st.details[id]=d;refresh()},function(e){showErr(e);refresh()})}},t("ack")));
 var ns=st.notes[id]||[];
 sec.appendChild(h("h3",{style:"margin-top:12px"},t("notes")));
 ns.forEach(function(n){sec.appendChild(h("div",{cls:"ev","data-testid":"note"},h("b",null,tm(n.at)+" "+n.by+": "),n.text,
  n.photo_url?h("div",null,h("img",{src:n.photo_url,alt:"",style:"max-width:100%;max-height:240px;border-radius:6px;margin-top:4px"})):null))});
 if(canWrite()){var ta=h("textarea",{rows:"2","data-testid":"note-text",placeholder:t("notePh"),maxlength:"4000"});ta.value=drafts[id]||"";
  ta.addEventListener("input",function(){drafts[id]=ta.value});
  var file=h("input",{type:"file",accept:"image/jpeg,image/png,image/webp","data-testid":"note-photo",style:"border:0;padding:4px 0"});
  sec.appendChild(h("div",null,ta,file,h("button",{type:"button",cls:"xbtn","data-testid":"note-add",on:function(){
   var text=(drafts[id]||"").trim(),ph=file.files&&file.files[0];if(!text&&!ph)return;
   var p=ph?fetch("/api/v1/findings/"+id+"/photos?text="+encodeURIComponent(text),{method:"POST",headers:{"Content-Type":ph.type},body:ph}).then(function(r){if(!r.ok)return r.json().then(function(j){throw apiErr(j,r)})})
    :send("POST","/api/v1/findings/"+id+"/notes",{text:text});
   p.then(function(){drafts[id]="";loadDetail(id)},showErr)}},t("addNote"))))}
 return sec}
function apiErr(j,r){var e=new Error(j&&j.error?j.error.message:"HTTP "+r.status);e.api=true;return e}
// Errors of a write are shown in the banner until the next successful poll.
function showErr(e){st.err={api:true,msg:e&&e.message?e.message:String(e)};render()}
function send(method,path,body){return fetch(path,{method:method,headers:{"Content-Type":"application/json",Accept:"application/json"},body:JSON.stringify(body)}).then(function(r){
 return r.json().catch(function(){return null}).then(function(j){if(r.status===401){st.auth=false;render()}if(!r.ok)throw apiErr(j,r);return j})})}

// A small SVG trend: min..max band and the average line.
function chart(hs,u){if(!hs)return h("div",{cls:"meta"},t("loading"));var p=hs.points||[];if(p.length<2)return h("div",{cls:"meta"},t("noTrend"));
 var W=300,H=64,lo=Infinity,hi=-Infinity,t0=hs.from_ms,t1=hs.to_ms;p.forEach(function(x){lo=Math.min(lo,x.min);hi=Math.max(hi,x.max)});
 if(hi===lo){hi+=1;lo-=1}function X(ms){return ((ms-t0)/(t1-t0)*W).toFixed(1)}function Y(v){return (H-2-(v-lo)/(hi-lo)*(H-4)).toFixed(1)}
 var NS="http://www.w3.org/2000/svg",svg=document.createElementNS(NS,"svg");svg.setAttribute("class","tr");svg.setAttribute("viewBox","0 0 "+W+" "+H);svg.setAttribute("preserveAspectRatio","none");
 var band=p.map(function(x){return X(x.t_ms)+","+Y(x.max)}).concat(p.slice().reverse().map(function(x){return X(x.t_ms)+","+Y(x.min)}));
 var path=document.createElementNS(NS,"path");path.setAttribute("d","M"+band.join("L")+"Z");svg.appendChild(path);
 var pl=document.createElementNS(NS,"polyline");pl.setAttribute("points",p.map(function(x){return X(x.t_ms)+","+Y(x.avg)}).join(" "));svg.appendChild(pl);
 return h("div",null,svg,h("div",{cls:"meta"},vu(lo,u)+" – "+vu(hi,u)+" · "+Math.round((t1-t0)/60000)+" min"))}
function loadHist(asset,role){var k=asset+"|"+role,c=st.hist[k];if(c&&Date.now()-c.at<15000)return;
 if(c)c.at=Date.now();else st.hist[k]={at:Date.now(),points:null,from_ms:0,to_ms:1};
 var base="/api/v1/assets/"+encodeURIComponent(asset)+"/history?points=60&role="+encodeURIComponent(role);
 // The last hour; when that holds too few points (a fresh gateway), the last five minutes.
 getJSON(base).then(function(d){if((d.points||[]).length>=10)return d;var now=Date.now();return getJSON(base+"&from_ms="+(now-300000)+"&to_ms="+now)})
  .then(function(d){d.at=Date.now();st.hist[k]=d;lastSig="";render()},function(){})}

var lastSig="";
function renderFindings(){var box=$("findings");
 if(!st.findings){if(!box.firstChild)box.appendChild(h("div",{cls:"empty"},t("loading")));return}
 // Re-render only when something shown changed: keeps taps and text selections intact.
 var sig=JSON.stringify([lang,st.findings,Object.keys(open).map(function(k){var d=st.details[k];return [k,d&&d.events]}),
  (st.assets||[]).map(function(a){return [a.id,a.name]}),new Date().toDateString()]);
 if(sig===lastSig&&box.firstChild)return;lastSig=sig;
 var m=labels(),fs=st.findings.slice().sort(function(a,b){return (RANK[b.severity]||0)-(RANK[a.severity]||0)||String(b.last_seen).localeCompare(String(a.last_seen))});
 $("n-find").textContent=fs.length?fs.length+" "+t("open"):"";
 var frag=document.createDocumentFragment();
 if(!fs.length)frag.appendChild(h("div",{cls:"empty"},t("noFind")));
 fs.forEach(function(f){frag.appendChild(findingCard(f,m))});
 box.replaceChildren(frag)}

function assetCard(a){var sev=RANK[a.worst_severity]?a.worst_severity:"none";
 return h("article",{cls:"card s-"+sev,"data-testid":"asset","data-asset":a.id,"data-severity":sev},
  h("div",{cls:"row"},h("span",{cls:"pill b-"+sev},sevName(a.worst_severity)+(a.open_findings?" · "+a.open_findings+" "+t("open"):"")),
   h("span",{cls:"title",style:"margin:0"},a.id+" · "+a.name)),
  h("div",{cls:"meta"},S.en["c_"+a.class]?t("c_"+a.class):a.class),
  baselineLines(a.id),
  h("button",{type:"button",cls:"xbtn","data-testid":"trends","aria-expanded":trendsOpen[a.id]?"true":"false",on:function(){
   if(trendsOpen[a.id])delete trendsOpen[a.id];else trendsOpen[a.id]=1;render()}},trendsOpen[a.id]?"▴ "+t("hideTrends"):"▾ "+t("trends")),
  trendsOpen[a.id]?h("div",{cls:"sec","data-testid":"asset-trends"},(a.values||[]).filter(function(v){return v.value!=null}).map(function(v){
   loadHist(a.id,v.role);return h("div",{"data-testid":"asset-trend","data-role":v.role},h("div",{cls:"meta"},(lang==="zh"?v.label_zh:v.label_en)||v.role),chart(st.hist[a.id+"|"+v.role],v.unit))})):null,
  h("table",{cls:"sec"},h("tbody",null,(a.values||[]).map(function(v){return h("tr",{"data-role":v.role},
   h("td",null,(lang==="zh"?v.label_zh||v.label_en:v.label_en||v.label_zh)||v.role,qflag(v.quality)),h("td",{cls:"n"},vu(v.value,v.unit)))}))),
  h("div",{cls:"sec"},(a.assessments||[]).map(function(x){var cr=x.criterion||{},s=x.status;
   return h("div",{cls:"crit","data-testid":"assessment","data-criterion":cr.id,"data-status":s},
    h("div",{cls:"row"},h("span",{cls:"st st-"+s},S.en[s]?t(s):s),h("span",{cls:"ctl"},LT(cr,"title")||cr.id),cr.verification?vbadge(cr.verification):null),
    s==="fault"&&x.code?h("div",{cls:"code"},x.code):null,
    s==="abstain"&&x.reason?h("div",{cls:"det why"},S.en["r_"+x.reason]?t("r_"+x.reason):x.reason):null,
    x.detail?h("div",{cls:"det","data-testid":"assessment-detail"},LT(x,"detail")):null,
    x.verdict&&x.verdict.kind!=="diagnosis"&&x.verdict.kind!=="normal"?h("div",{cls:"det","data-testid":"verdict-kind","data-kind":x.verdict.kind},t("vk_"+x.verdict.kind)):null)})))}

// Per-asset baselines (GET /api/v1/baselines): state, learning progress or what was learned.
function baselineLines(id){return (st.baselines||[]).filter(function(b){return b.asset===id}).map(function(b){
 return h("div",{cls:"meta","data-testid":"baseline","data-baseline":b.name,"data-state":b.state},t("baseline")+" "+b.name+": "+(S.en["bl_"+b.state]?t("bl_"+b.state):b.state)+
  (b.state==="learning"?" · "+b.progress+" / "+b.learn:" · "+tm(b.learned_from)+" – "+tm(b.learned_to)+" · "+b.samples+" "+t("samples")))})}
function renderAssets(){var box=$("assets");if(!st.assets){if(!box.firstChild)box.appendChild(h("div",{cls:"empty"},t("loading")));return}
 var frag=document.createDocumentFragment();st.assets.forEach(function(a){frag.appendChild(assetCard(a))});box.replaceChildren(frag);
 var sel=$("askasset");if(sel&&sel.options.length!==st.assets.length+1){var v=sel.value;sel.replaceChildren(h("option",{value:""},"—"));st.assets.forEach(function(a){var o=h("option",{value:a.id},a.name||a.id);sel.appendChild(o)});sel.value=v}}

function renderGateway(){var hz=st.health,b=$("gwbody");if(!hz)return;
 function line(k,v){return h("div",{cls:"ev"},h("b",null,t(k)+": "),v)}
 var up=hz.uptime_s|0,ups=Math.floor(up/86400)+"d "+pad(Math.floor(up/3600)%24)+":"+pad(Math.floor(up/60)%60)+":"+pad(up%60);
 b.replaceChildren(h("div",null,
  st.me?h("div",{cls:"ev user","data-testid":"me"},h("b",null,t("signedAs")+": "),st.me.user+" ("+st.me.role+") ",h("button",{type:"button",cls:"xbtn sm","data-testid":"logout",on:logout},t("logout"))):null,
  line("version_",hz.version||""),line("uptime",ups),line("lastEval",tm(hz.last_evaluation)),
  line("store",(hz.store&&hz.store.ok?"OK":"ERROR")+(hz.store&&hz.store.samples!=null?" · "+hz.store.samples+" "+t("samples"):"")),
  line("sources",""),(hz.sources||[]).map(function(s){return h("div",{cls:"ev"},"• ",h("span",{cls:"code"},s.id)," "+(s.endpoint||"")+" — ",
   h("b",null,s.connected?t("connected"):t("disconnected")),", "+(s.errors||0)+" "+t("errors"))}),
  line("models",(hz.models||[]).length?"":t("none_")),(hz.models||[]).map(function(md){return h("div",{cls:"ev"},"• "+md.name+" "+md.version+" ("+md.provider+"), "+t("threshold")+" "+md.threshold)}),
  (hz.model_errors||[]).length?line("modelErrors",hz.model_errors.map(function(x){return typeof x==="string"?x:JSON.stringify(x)}).join("; ")):null,
  (hz.disabled_criteria||[]).length?line("disabled",hz.disabled_criteria.map(function(x){return typeof x==="string"?x:JSON.stringify(x)}).join("; ")):null))}

var hold=false,pending=false;
document.addEventListener("pointerdown",function(){hold=true},true);
["pointerup","pointercancel"].forEach(function(n){document.addEventListener(n,function(){hold=false;if(pending){pending=false;setTimeout(render,60)}},true)});
function render(){if(hold){pending=true;return}renderStatic();renderHeader();renderFindings();renderAssets();renderGateway()}

function getJSON(path,allowErr){var ac=typeof AbortController!=="undefined"?new AbortController():null;
 var tid=setTimeout(function(){if(ac)ac.abort()},TIMEOUT);
 return fetch(path,{cache:"no-store",signal:ac?ac.signal:undefined,headers:{Accept:"application/json"}}).then(function(r){
  // The service worker answers from its cache when the gateway is unreachable, and says so.
  var off=r.headers.get("X-Edgecite-Offline");if(off){var at=Number(r.headers.get("X-Edgecite-Cached-At"));st.offline=true;
   if(at&&(!st.cachedAt||at<st.cachedAt))st.cachedAt=at}
  return r.json().catch(function(){return null}).then(function(j){clearTimeout(tid);
   if(r.status===401&&!allowErr){var e0=new Error("401");e0.auth=true;throw e0}
   if(r.ok||(allowErr&&j&&j.status))return j;
   var e=new Error(j&&j.error?j.error.code+": "+j.error.message:"HTTP "+r.status);e.api=true;e.status=r.status;throw e})},
  function(e){clearTimeout(tid);throw e})}

function loadDetail(id){return Promise.all([getJSON(Q("/api/v1/findings/"+encodeURIComponent(id))),getJSON("/api/v1/findings/"+encodeURIComponent(id)+"/notes").catch(function(){return null})]).then(function(r){
 var d=r[0];if(d){st.details[id]=d;if(r[1])st.notes[id]=r[1];
  (st.findings||[]).forEach(function(f,i){if(String(f.id)===String(id))st.findings[i]=Object.assign({},f,{acknowledged:d.acknowledged,state:d.state})});
  lastSig="";if(open[id])renderFindings()}},function(){})}

var timer=null,busy=false;
function poll(){if(busy)return;clearTimeout(timer);
 if(document.hidden){timer=setTimeout(poll,POLL);return}
 busy=true;st.offline=false;st.cachedAt=null;
 Promise.all([getJSON("/healthz",true),getJSON(Q("/api/v1/assets")),getJSON(Q("/api/v1/findings?state=open")),st.me?null:getJSON("/api/v1/auth/me").catch(function(){return null}),getJSON("/api/v1/baselines").catch(function(){return null})]).then(function(r){
  st.health=r[0];st.assets=r[1]||[];st.findings=r[2]||[];if(r[3])st.me=r[3];st.auth=true;st.baselines=r[4]||st.baselines;
  if(st.offline){st.okAt=st.cachedAt?new Date(st.cachedAt):st.okAt;st.err={api:false,msg:"offline"}}
  else{st.okAt=new Date();st.err=null;live()}
  var ids={};st.findings.forEach(function(f){ids[f.id]=1});
  Object.keys(open).forEach(function(k){if(ids[k])loadDetail(k)});
 },function(e){if(e&&e.auth){st.auth=false;st.me=null}else st.err={api:!!(e&&e.api),msg:e&&e.message?e.message:String(e)}}).then(function(){
  busy=false;render();if(st.auth!==false)timer=setTimeout(poll,POLL)})}

// Live values by server-sent events between polls.
var es=null;
function live(){if(es||typeof EventSource==="undefined")return;es=new EventSource("/api/v1/live");
 es.addEventListener("assets",function(ev){var a;try{a=JSON.parse(ev.data)}catch(e){return}
  if(!st.assets)return;var by={};a.forEach(function(x){by[x.id]=x});
  st.assets=st.assets.map(function(x){var n=by[x.id];return n?Object.assign({},x,{values:n.values,assessments:n.assessments}):x});renderAssets()});
 es.onerror=function(){es.close();es=null}}

// Reference search (GET /api/v1/ask, served when the gateway has a reference library).
function unesc(s){return s.replace(/&lt;/g,"<").replace(/&gt;/g,">").replace(/&quot;/g,'"').replace(/&#39;/g,"'").replace(/&#x27;/g,"'").replace(/&amp;/g,"&")}
function marked(s){var out=[],on=false;String(s||"").split(/(<mark>|<\/mark>)/).forEach(function(p){
 if(p==="<mark>")on=true;else if(p==="</mark>")on=false;else if(p)out.push(on?h("mark",null,unesc(p)):unesc(p))});return out}
$("ask").addEventListener("submit",function(ev){ev.preventDefault();var q=$("askq").value.trim(),box=$("askres");if(!q)return;
 box.replaceChildren(h("div",{cls:"meta"},t("loading")));
 var as=$("askasset")&&$("askasset").value;
 getJSON("/api/v1/ask?limit=10&lang="+(lang==="zh"?"zh":"en")+(as?"&asset="+encodeURIComponent(as):"")+"&q="+encodeURIComponent(q)).then(function(d){
  var rs=(d&&d.results)||[];
  box.replaceChildren(h("div",null,d&&d.supported===false?h("div",{cls:"err"},d.reason||t("askNA")):null,
   d&&d.supported&&(d.reason||d.context_note)?h("div",{cls:"meta","data-testid":"ask-note"},[d.reason,d.context_note].filter(Boolean).join(" · ")):null,
   rs.length?null:h("div",{cls:"empty","data-testid":"ask-empty"},d&&d.reason?d.reason:t("askNone")),
   rs.map(function(x){return h("div",{cls:"res","data-testid":"ask-result"},h("div",{cls:"row"},vbadge(x.verification),h("b",null,x.doc_title||x.doc_id),x.nearest?h("span",{cls:"q"},t("nearest")):null),
    h("div",{cls:"meta"},h("span",{cls:"code"},x.doc_id),x.edition?" · "+t("edition")+" "+x.edition:"",x.clause?" · "+t("clause")+" "+x.clause:""),
    h("p",null,marked(x.highlight||x.text)))})))
 },function(e){box.replaceChildren(h("div",{cls:"err","data-testid":"ask-na"},e&&e.status===404?t("askNA"):(e&&e.message)||String(e)))})});

$("login").addEventListener("submit",function(ev){ev.preventDefault();var err=$("login-err");err.hidden=true;
 fetch("/api/v1/auth/login",{method:"POST",headers:{"Content-Type":"application/json"},body:JSON.stringify({username:$("user").value,password:$("pass").value})}).then(function(r){
  return r.json().catch(function(){return null}).then(function(j){
   if(!r.ok){err.hidden=false;err.textContent=r.status===401?t("badLogin"):(j&&j.error?j.error.message:"HTTP "+r.status);return}
   st.me=j;st.auth=true;$("pass").value="";render();poll()})},function(e){err.hidden=false;err.textContent=String(e)})});

function logout(){fetch("/api/v1/auth/logout",{method:"POST"}).then(function(){
 if(navigator.serviceWorker&&navigator.serviceWorker.controller)navigator.serviceWorker.controller.postMessage("clear");
 st.me=null;st.auth=false;if(es){es.close();es=null}render()})}

$("lang").addEventListener("click",function(){lang=lang==="zh"?"en":"zh";try{localStorage.setItem("edgecite.lang",lang)}catch(e){}lastSig="";render();
 // Ask the gateway again in the new language (the texts above already switched from the *_i18n pairs).
 poll();Object.keys(open).forEach(loadDetail)});
document.addEventListener("visibilitychange",function(){if(!document.hidden)poll()});
if("serviceWorker" in navigator)navigator.serviceWorker.register("/sw.js").catch(function(){});
render();poll();
})();
