//! The demo tenant: an e-commerce shop with a bilingual knowledge base, one admin and two agents, created at first
//! start with generated passwords that are written to `DATA_DIR/demo-credentials.txt` and printed at every start.

use anyhow::Context;
use lingxi_bot::flows::{FlowSpec, SlotSpec};
use lingxi_kb::sanitize_answer;
use lingxi_service::{Services, hash_password, new_token};
use lingxi_store::{NewKbEntry, Store};
use lingxi_types::Role;
use std::path::Path;

/// The demo tenant's slug.
pub const SLUG: &str = "demo";
const CREDENTIALS_FILE: &str = "demo-credentials.txt";

/// What the console shows about the demo.
pub struct Demo {
    /// The tenant slug.
    pub slug: String,
    widget_key: String,
    credentials: Option<String>,
    credentials_path: String,
}

impl Demo {
    /// Prints the demo's widget key and credentials.
    pub fn print(&self) {
        println!("Demo tenant '{}' — widget key: {}", self.slug, self.widget_key);
        match &self.credentials {
            Some(c) => {
                println!("Demo accounts (generated at first start, kept in {}):", self.credentials_path);
                for line in c.lines() {
                    println!("  {line}");
                }
            }
            None => println!(
                "Demo accounts were generated at first start with another data directory; \
                 add one with `lingxi admin create-user --tenant demo …`."
            ),
        }
    }
}

/// Creates the demo tenant if it does not exist yet.
pub async fn ensure(store: &Store, data_dir: &Path) -> anyhow::Result<Demo> {
    let path = data_dir.join(CREDENTIALS_FILE);
    if let Some(t) = store.tenant_by_slug(SLUG).await? {
        return Ok(Demo {
            slug: t.slug,
            widget_key: t.widget_key,
            credentials: std::fs::read_to_string(&path).ok(),
            credentials_path: path.display().to_string(),
        });
    }
    let tenant = store.create_tenant(SLUG, "灵犀优选 Lingxi Select", &format!("wk_{}", new_token())).await?;
    let mut credentials = String::new();
    for (email, name, role) in [
        ("admin@demo.lingxi.local", "管理员 Admin", Role::Admin),
        ("lina@demo.lingxi.local", "李娜 Li Na", Role::Agent),
        ("wangwei@demo.lingxi.local", "王伟 Wang Wei", Role::Agent),
    ] {
        let password: String = new_token().chars().take(16).collect();
        store.create_user(tenant.id, email, name, role, &hash_password(&password)).await?;
        credentials.push_str(&format!("{role:<6} {email}  password: {password}\n"));
    }
    for entry in knowledge_base() {
        store.create_kb_entry(tenant.id, entry).await?;
    }
    std::fs::create_dir_all(data_dir).ok();
    write_private(&path, &credentials).with_context(|| format!("writing {}", path.display()))?;
    Ok(Demo {
        slug: tenant.slug,
        widget_key: tenant.widget_key,
        credentials: Some(credentials),
        credentials_path: path.display().to_string(),
    })
}

/// The demo's two task flows, 查订单 (order status) and 申请退货 (start a return), served by the demo webhook at
/// `base` (the server's own address). Created when missing; their webhook URL follows the server's address.
pub async fn ensure_flows(services: &Services, slug: &str, base: &str) -> anyhow::Result<()> {
    let Some(tenant) = services.store.tenant_by_slug(slug).await? else { return Ok(()) };
    let existing = services.bot_flows(tenant.id).await?;
    for spec in demo_flows(base) {
        match existing.iter().find(|f| f.spec.name == spec.name) {
            None => {
                services.create_bot_flow(tenant.id, spec).await?;
            }
            Some(f) if f.spec.webhook_url != spec.webhook_url => {
                let moved = FlowSpec { webhook_url: spec.webhook_url, ..f.spec.clone() };
                services.update_bot_flow(tenant.id, f.id, moved).await?;
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn demo_flows(base: &str) -> Vec<FlowSpec> {
    let order_id = || SlotSpec {
        name: "order_id".into(),
        prompt_zh: "请提供您的订单号（LX 加 8 位数字，例如 LX20261203）。".into(),
        prompt_en: "Please send your order number (LX and 8 digits, e.g. LX20261203).".into(),
        pattern: r"LX\d{8}".into(),
        invalid_zh: "订单号格式不对：应为 LX 加 8 位数字，例如 LX20261203，请再发一次。".into(),
        invalid_en: "That is not an order number: it is LX and 8 digits, e.g. LX20261203. Please send it again.".into(),
    };
    vec![
        FlowSpec {
            name: "order-status".into(),
            title: "查询订单 / Order status".into(),
            enabled: true,
            triggers: ["查订单", "查询订单状态", "我的订单到哪了", "订单物流查询", "where is my order", "track my order", "order status"]
                .map(String::from)
                .to_vec(),
            slots: vec![order_id()],
            webhook_url: format!("{base}/demo/api/order-status"),
            reply_zh: "订单 {{slots.order_id}}：{{response.status_zh}}，{{response.carrier}} 运单号 {{response.tracking_no}}，\
                       预计 {{response.eta}} 送达。"
                .into(),
            reply_en: "Order {{slots.order_id}}: {{response.status_en}}, {{response.carrier}} tracking number \
                       {{response.tracking_no}}, expected on {{response.eta}}."
                .into(),
            failure_zh: "抱歉，暂时查不到订单信息（订单系统没有响应）。需要的话我可以为您转人工客服。".into(),
            failure_en: "Sorry, I can't look up the order right now (the order system did not answer). I can put you \
                         through to a human if you like."
                .into(),
        },
        FlowSpec {
            name: "start-return".into(),
            title: "申请退货 / Start a return".into(),
            enabled: true,
            triggers: ["我要退货", "帮我申请退货", "申请退货", "start a return", "i want to return my order", "return my order"]
                .map(String::from)
                .to_vec(),
            slots: vec![
                order_id(),
                SlotSpec {
                    name: "reason".into(),
                    prompt_zh: "请简单说一下退货原因（例如：尺码不合适、质量问题、不想要了）。".into(),
                    prompt_en: "Briefly, why are you returning it (e.g. wrong size, faulty, changed my mind)?".into(),
                    pattern: r".{2,200}".into(),
                    invalid_zh: "请用几个字说明退货原因。".into(),
                    invalid_en: "Please give the reason in a few words.".into(),
                },
            ],
            webhook_url: format!("{base}/demo/api/returns"),
            reply_zh: "已为订单 {{slots.order_id}} 提交退货申请，退货单号 {{response.return_no}}。\
                       请在 7 天内按 {{response.address}} 寄回商品。"
                .into(),
            reply_en: "A return for order {{slots.order_id}} is submitted as {{response.return_no}}. Please send the \
                       item within 7 days to {{response.address}}."
                .into(),
            failure_zh: "抱歉，退货申请暂时提交不了。需要的话我可以为您转人工客服。".into(),
            failure_en: "Sorry, the return could not be submitted right now. I can put you through to a human if you \
                         like."
                .into(),
        },
    ]
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// One FAQ written in both languages, stored as a Chinese entry and an English entry so that each visitor is
/// answered in the language they asked in. `similar` mixes both languages; `answer` is "中文\nEnglish".
struct Bilingual {
    category: &'static str,
    question: &'static str,
    similar: &'static [&'static str],
    answer: &'static str,
}

fn entry(
    category: &'static str,
    question: &'static str,
    similar: &'static [&'static str],
    answer: &'static str,
) -> Bilingual {
    Bilingual { category, question, similar, answer }
}

fn is_chinese(text: &str) -> bool {
    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

/// Tags that tie an FAQ to the business context the shop's pages pass to the widget (猜你想问): the demo page
/// sends `?order_status=payment_failed` or `shipped`.
fn context_tags(question: &str) -> &'static [&'static str] {
    match question {
        "付款失败怎么办？" | "支持哪些支付方式？" => &["order_status=payment_failed"],
        "我的快递到哪了？" => &["order_status=shipped"],
        _ => &[],
    }
}

impl Bilingual {
    fn split(self) -> [NewKbEntry; 2] {
        let tags: Vec<String> =
            std::iter::once("demo").chain(context_tags(self.question).iter().copied()).map(str::to_owned).collect();
        let (zh_similar, en_similar): (Vec<&str>, Vec<&str>) = self.similar.iter().partition(|q| is_chinese(q));
        let (zh_answer, en_answer) = self.answer.split_once('\n').unwrap_or((self.answer, self.answer));
        let en_question = en_similar.first().copied().unwrap_or(self.question);
        [
            NewKbEntry {
                question: self.question.to_owned(),
                similar_questions: zh_similar.iter().map(|s| (*s).to_owned()).collect(),
                answer: sanitize_answer(zh_answer).html,
                answer_text: sanitize_answer(zh_answer).text,
                category: self.category.to_owned(),
                tags: tags.clone(),
                ..NewKbEntry::default()
            },
            NewKbEntry {
                question: en_question.to_owned(),
                similar_questions: en_similar.iter().skip(1).map(|s| (*s).to_owned()).collect(),
                answer: sanitize_answer(en_answer).html,
                answer_text: sanitize_answer(en_answer).text,
                category: self.category.to_owned(),
                tags,
                ..NewKbEntry::default()
            },
        ]
    }
}

/// The demo shop's FAQ: each entry in Chinese and in English.
fn knowledge_base() -> Vec<NewKbEntry> {
    bilingual_faq().into_iter().flat_map(Bilingual::split).collect()
}

fn bilingual_faq() -> Vec<Bilingual> {
    vec![
        entry(
            "售后/退货",
            "怎么退货？",
            &[
                "如何退货",
                "我想退货",
                "退货流程是什么",
                "商品不满意可以退吗",
                "How do I return an item?",
                "What is your return policy?",
                "I want to send it back",
            ],
            "本店支持 7 天无理由退货：在“我的订单”中选择商品，点击“申请退货”，填写原因后按页面地址寄回即可。退款在收到退货后 1–3 个工作日内原路退回。\nWe accept returns within 7 days, no reason needed: open My Orders, choose the item, click \"Return\", and ship it to the address shown. Refunds reach your original payment method 1–3 business days after we receive the parcel.",
        ),
        entry(
            "售后/退款",
            "退款多久到账？",
            &[
                "退款什么时候到",
                "钱什么时候退回来",
                "退款进度",
                "When will I get my refund?",
                "How long does a refund take?",
            ],
            "退款在我们收到退货并验收后 1–3 个工作日内原路退回；信用卡和花呗可能再需 1–5 个工作日入账。\nRefunds are issued 1–3 business days after we receive and check the return; card and credit-line refunds may take another 1–5 business days to appear.",
        ),
        entry(
            "物流/发货",
            "多久发货？",
            &[
                "什么时候发货",
                "下单后多久发出",
                "发货时间",
                "今天下单今天能发吗",
                "When will my order ship?",
                "How soon do you ship?",
            ],
            "现货商品下午 4 点前付款当天发货，之后次日发货；预售商品以商品页标注的时间为准。\nIn-stock items paid before 4 pm ship the same day, later orders the next day; pre-sale items ship on the date shown on the product page.",
        ),
        entry(
            "物流/查询",
            "我的快递到哪了？",
            &[
                "查物流",
                "怎么查快递",
                "包裹到哪里了",
                "物流信息怎么看",
                "Where is my parcel?",
                "How can I track my order?",
                "track my package",
            ],
            "在“我的订单”中点开订单即可查看实时物流；也可以把订单号发给我，我帮您查询。\nOpen the order in My Orders to see live tracking, or send me your order number and I will look it up.",
        ),
        entry(
            "物流/运费",
            "运费怎么算？",
            &["包邮吗", "邮费多少", "满多少包邮", "Is shipping free?", "How much is shipping?"],
            "全场满 99 元包邮，不满 99 元收取 8 元运费；偏远地区（新疆、西藏等）另计。\nShipping is free on orders over ¥99; below that it costs ¥8. Remote regions may cost extra.",
        ),
        entry(
            "支付",
            "支持哪些支付方式？",
            &[
                "可以用花呗吗",
                "能用信用卡吗",
                "付款方式有哪些",
                "支持微信支付吗",
                "What payment methods do you accept?",
                "Can I pay by credit card?",
            ],
            "支持支付宝、微信支付、花呗分期、银联及 Visa / Mastercard 信用卡。\nWe accept Alipay, WeChat Pay, Huabei instalments, UnionPay and Visa / Mastercard credit cards.",
        ),
        entry(
            "支付",
            "付款失败怎么办？",
            &["支付不成功", "付不了款", "扣款了但订单没成功", "Payment failed", "My payment did not go through"],
            "请先确认余额或额度充足，并尝试更换支付方式。若已扣款但订单未成功，款项会在 24 小时内自动退回。\nPlease check your balance or limit and try another payment method. If you were charged but the order failed, the money returns automatically within 24 hours.",
        ),
        entry(
            "发票",
            "怎么开发票？",
            &[
                "可以开发票吗",
                "如何申请发票",
                "电子发票在哪里下载",
                "要开增值税专用发票",
                "Can I get an invoice?",
                "How do I request an invoice?",
            ],
            "订单完成后在“我的订单 → 申请发票”填写抬头和税号，电子发票会在 1 个工作日内发送到您的邮箱。\nAfter the order is completed, go to My Orders → Request invoice and enter the title and tax number; the e-invoice arrives by e-mail within one business day.",
        ),
        entry(
            "订单",
            "怎么修改收货地址？",
            &[
                "地址填错了",
                "能改地址吗",
                "更换收货地址",
                "Can I change my shipping address?",
                "I entered the wrong address",
            ],
            "订单发货前可在“我的订单 → 修改地址”自行修改；已发货的订单请联系人工客服协助拦截改派。\nBefore shipping you can change the address in My Orders → Change address; once shipped, please ask an agent to redirect the parcel.",
        ),
        entry(
            "订单",
            "怎么取消订单？",
            &["不想要了能取消吗", "取消订单", "下错单了", "How do I cancel my order?", "I want to cancel my order"],
            "未发货的订单可在“我的订单”中直接取消，款项原路退回；已发货的订单请在签收后申请退货。\nOrders that have not shipped can be cancelled in My Orders and refunded in full; shipped orders can be returned after delivery.",
        ),
        entry(
            "商品",
            "衣服尺码怎么选？",
            &[
                "尺码推荐",
                "我该穿什么码",
                "尺码偏大还是偏小",
                "What size should I choose?",
                "Do your clothes run small?",
            ],
            "每个商品页都有尺码表，建议按胸围和腰围选择；本店服装版型标准，介于两个尺码之间时建议选大一码。\nEvery product page has a size chart; choose by chest and waist. Our clothes fit true to size; between two sizes, take the larger one.",
        ),
        entry(
            "会员",
            "会员有什么权益？",
            &["怎么成为会员", "积分怎么用", "会员等级", "What are the membership benefits?", "How do points work?"],
            "注册即成为会员：每消费 1 元积 1 分，100 积分抵 1 元；金卡会员享 95 折和专属客服。\nEvery customer is a member: earn 1 point per ¥1, 100 points = ¥1 off; Gold members get 5% off and a dedicated agent.",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use lingxi_bot::flows::Flow;

    #[test]
    fn the_demo_flows_are_valid_flows_on_a_loopback_webhook() {
        for spec in demo_flows("http://127.0.0.1:8080") {
            let name = spec.name.clone();
            if let Err(e) = Flow::new(spec) {
                panic!("demo flow {name}: {e}");
            }
        }
    }

    #[test]
    fn the_demo_faq_ties_payment_questions_to_the_pages_context() {
        let tagged: Vec<NewKbEntry> = knowledge_base()
            .into_iter()
            .filter(|e| e.tags.iter().any(|t| t == "order_status=payment_failed"))
            .collect();
        assert!(tagged.iter().any(|e| is_chinese(&e.question)) && tagged.iter().any(|e| !is_chinese(&e.question)));
    }
}
